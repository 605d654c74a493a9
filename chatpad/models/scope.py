"""What a signed-in person may see: their organization, and within it their locations when they are limited to some.

This is the project's row-level security (docs/architecture.md §9, "Tenancy"). Every model a user can reach has
`tenant_clause(org_id)`; a model whose rows belong to locations also has `location_clause(location_ids)`. A Scope
puts the two together:

    scope = Scope.of(current_user)
    select(Conversation).where(scope.where(Conversation))

An unlimited person (owners, admins, agents of the whole business) gets the organization's rows; a person limited to
locations (an on-site manager) gets only the rows of their locations. A model without a location_clause shows a
limited person nothing at all: a new model is closed until it says how its rows belong to locations.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import false, true


@dataclass(frozen=True)
class Scope:
    """An organization, and the locations within it (None: every location, and rows of no location)."""

    organization_id: int
    location_ids: frozenset[uuid.UUID] | None = None

    @classmethod
    def of(cls, user) -> Scope:
        """The scope of a user: their organization, narrowed to their locations when they are limited to some."""
        return cls(user.organization_id, user.location_ids)

    @classmethod
    def coerce(cls, value: Scope | int) -> Scope:
        """A Scope from a Scope or a bare organization id (the whole organization)."""
        return value if isinstance(value, Scope) else cls(int(value))

    @classmethod
    def limited_to(cls, organization_id: int, location_ids: Iterable[uuid.UUID]) -> Scope:
        return cls(organization_id, frozenset(location_ids))

    @property
    def limited(self) -> bool:
        return self.location_ids is not None

    def where(self, model):
        """The WHERE clause that keeps model's rows inside this scope."""
        clause = model.tenant_clause(self.organization_id)
        if self.location_ids is None:
            return clause
        narrow = getattr(model, "location_clause", None)
        if narrow is None:
            return false()  # closed until the model says how its rows belong to locations
        return clause & narrow(self.location_ids) if self.location_ids else false()

    def locations_where(self, column):
        """A clause on a location id column (of a query that is already organization-scoped): true when
        unlimited."""
        if self.location_ids is None:
            return true()
        return column.in_(list(self.location_ids)) if self.location_ids else false()

    def allows_location(self, location_id: uuid.UUID | None) -> bool:
        """May this scope see a row of this location (None: a row of no location, "General")?"""
        return self.location_ids is None or (location_id is not None and location_id in self.location_ids)
