"""The admin's own screens (Flask-Admin): organization-scoped model views and the base classes every face's admin
screens share (SecureViewMixin, TenantModelView). chatpad/site.py puts every face's screens into one admin menu."""
