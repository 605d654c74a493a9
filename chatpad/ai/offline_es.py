"""Spanish for the offline provider: what a Spanish question means in the words the matcher knows, and the pieces of
its answers that are not simple sentences (listing lines, days, week lines).

The matcher (chatpad/ai/offline.py) works on English phrases and the knowledge's keywords, which are written in the
business's language. A Spanish question is matched on its own words plus their English equivalents from GLOSS
("¿aceptan perros?" also reads as "dogs"), so an FAQ whose keywords say "dogs" answers it. The answer's own texts
are written in both languages in offline.py; the knowledge's bodies stay as written (with a Spanish lead-in when
they exist only in English, or the item's `data["translations"]["es"]` when an admin wrote one).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from .context import Listing
from .text import fold

# Spanish (accents folded, lowercase) → English the matcher understands. Longer phrases first where they overlap.
GLOSS: tuple[tuple[str, str], ...] = (
    # greetings, thanks, goodbyes
    ("hola", "hi"),
    ("buenos dias", "good morning"),
    ("buenas tardes", "good afternoon"),
    ("buenas noches", "good evening"),
    ("buenas", "hi"),
    ("muchas gracias", "thanks"),
    ("gracias", "thanks"),
    ("adios", "bye"),
    ("hasta luego", "bye"),
    ("perfecto", "perfect"),
    ("de acuerdo", "ok"),
    # a person
    ("hablar con alguien", "talk to someone"),
    ("hablar con una persona", "talk to a person"),
    ("hablar con un humano", "talk to a human"),
    ("una persona real", "a real person"),
    ("persona real", "real person"),
    ("con una persona", "a person"),
    ("un agente", "live agent"),
    ("el gerente", "the manager"),
    ("la gerente", "the manager"),
    ("un gerente", "a manager"),
    ("el encargado", "the manager"),
    ("la encargada", "the manager"),
    ("llamenme", "call me"),
    ("llamarme", "call me"),
    ("me llaman", "call me"),
    ("me pueden llamar", "call me"),
    # hours
    ("horario de oficina", "office hours"),
    ("horarios", "hours"),
    ("horario", "hours"),
    ("a que hora abren", "what time open"),
    ("a que hora cierran", "what time close"),
    ("que hora", "what time"),
    ("estan abiertos", "are you open"),
    ("esta abierta la oficina", "is the office open"),
    ("esta abierto", "open"),
    ("abierto", "open"),
    ("abiertos", "open"),
    ("abren", "open"),
    ("abre", "open"),
    ("cierran", "close"),
    ("cierra", "close"),
    ("cerrado", "closed"),
    ("ahora mismo", "right now"),
    ("ahorita", "now"),
    ("ahora", "now"),
    ("hoy", "today"),
    ("manana", "tomorrow"),
    ("fin de semana", "weekend"),
    ("lunes", "monday"),
    ("martes", "tuesday"),
    ("miercoles", "wednesday"),
    ("jueves", "thursday"),
    ("viernes", "friday"),
    ("sabado", "saturday"),
    ("sabados", "saturday"),
    ("domingo", "sunday"),
    ("domingos", "sunday"),
    # where, how to reach
    ("direccion", "address"),
    ("donde estan", "where are you"),
    ("donde queda", "where are you"),
    ("donde se encuentran", "where are you"),
    ("ubicacion", "your location"),
    ("como llego", "how do i get there"),
    ("como llegar", "how to get there"),
    ("numero de telefono", "phone number"),
    ("telefono", "phone"),
    ("correo electronico", "email address"),
    ("correo", "email address"),
    # tours
    ("agendar una visita", "schedule a tour"),
    ("agendar visita", "book a tour"),
    ("hacer una cita", "appointment"),
    ("una cita", "appointment"),
    ("cita", "appointment"),
    ("recorrido", "tour"),
    ("visitar", "visit"),
    ("visita", "visit"),
    ("ver la casa", "see the house"),
    ("verla", "see it"),
    ("pasar a ver", "stop by"),
    # homes
    ("casas disponibles", "available homes"),
    ("casas moviles", "mobile homes"),
    ("casa movil", "mobile home"),
    ("casas", "homes"),
    ("casa", "home"),
    ("viviendas", "homes"),
    ("vivienda", "home"),
    ("trailas", "trailer"),
    ("traila", "trailer"),
    ("en venta", "for sale"),
    ("a la venta", "for sale"),
    ("comprar", "buy"),
    ("que tienen disponible", "what's available"),
    ("que hay disponible", "what's available"),
    ("disponibles", "available"),
    ("disponible", "available"),
    ("habitaciones", "bedrooms"),
    ("habitacion", "bedroom"),
    ("recamaras", "bedrooms"),
    ("recamara", "bedroom"),
    ("cuartos", "bedrooms"),
    ("cuarto", "bedroom"),
    ("dormitorios", "bedrooms"),
    ("banos", "baths"),
    ("bano", "bath"),
    ("pies cuadrados", "sq ft"),
    ("menos de", "under"),
    ("por debajo de", "under"),
    ("maximo", "max"),
    ("hasta", "up to"),
    ("mas de", "more than"),
    # knowledge topics of a community
    ("lote", "lot"),
    ("lotes", "lots"),
    ("renta del lote", "lot rent"),
    ("renta de lote", "lot rent"),
    ("renta del terreno", "lot rent"),
    ("renta del espacio", "lot rent"),
    ("alquiler del lote", "lot rent"),
    ("alquiler del terreno", "lot rent"),
    ("renta mensual", "monthly rent"),
    ("cuanto es la renta", "lot rent"),
    ("cuanto cuesta la renta", "lot rent"),
    ("la renta", "rent"),
    ("renta", "rent"),
    ("alquiler", "rent"),
    ("mensualidad", "monthly"),
    ("al mes", "monthly"),
    ("mascotas", "pets"),
    ("mascota", "pet"),
    ("perros", "dogs"),
    ("perro", "dog"),
    ("perrito", "dog"),
    ("gatos", "cats"),
    ("gato", "cat"),
    ("aplicacion", "application"),
    ("solicitud", "application"),
    ("aplicar", "apply"),
    ("aplico", "apply"),
    ("aplica", "apply"),
    ("solicito", "apply"),
    ("solicitar", "apply"),
    ("credito", "credit"),
    ("antecedentes", "background check"),
    ("financiamiento", "financing"),
    ("financiar", "finance"),
    ("financiacion", "financing"),
    ("prestamo", "loan"),
    ("enganche", "down payment"),
    ("pago inicial", "down payment"),
    ("hipoteca", "mortgage"),
    ("renta con opcion a compra", "rent-to-own"),
    ("traer mi casa", "bring my own"),
    ("traer mi propia casa", "bring my own"),
    ("mover mi casa", "move my home"),
    ("mi propia casa", "own home"),
    ("lotes disponibles", "open lots"),
    ("lotes vacios", "open lots"),
    ("amenidades", "amenities"),
    ("comodidades", "amenities"),
    ("alberca", "pool"),
    ("piscina", "pool"),
    ("casa club", "clubhouse"),
    ("ruido", "noise"),
    ("silencio", "quiet"),
    ("ruidosos", "loud"),
    ("horas de silencio", "quiet hours"),
    # emergencies
    ("emergencia", "emergency"),
    ("fuga de agua", "leak"),
    ("fuga de gas", "gas leak"),
    ("fuga", "leak"),
    ("gotera", "leak"),
    ("huele a gas", "gas"),
    ("olor a gas", "gas"),
    ("inundacion", "flood"),
    ("inundada", "flood"),
    ("inundado", "flood"),
    ("se inundo", "flood"),
    ("incendio", "fire"),
    ("fuego", "fire"),
    ("chispas", "emergency"),
)

# Longest first, so "renta del lote" is read before "renta" and "casa club" before "casa".
_GLOSS_RES = [
    (re.compile(r"(?<![a-z0-9])" + re.escape(es) + r"(?![a-z0-9])"), en)
    for es, en in sorted(GLOSS, key=lambda pair: -len(pair[0]))
]


def gloss(text: str) -> str:
    """A Spanish text with the phrases GLOSS knows put in English, in place; numbers, prices and other words are
    kept ('¿Tienen casas de 3 habitaciones?' → 'tienen homes de 3 bedrooms?'), so the matcher's patterns (3 bedrooms,
    under $80k, lot 14) read it as they read English."""
    folded = fold(text)
    spans: list[tuple[int, int, str]] = []
    for pattern, en in _GLOSS_RES:
        for m in pattern.finditer(folded):
            if any(a < m.end() and m.start() < b for a, b, _ in spans):
                continue  # inside a longer phrase already read ("renta del lote" before "renta")
            spans.append((m.start(), m.end(), en))
    out, at = [], 0
    for a, b, en in sorted(spans):
        out += [folded[at:a], en]
        at = b
    out.append(folded[at:])
    return "".join(out)


DAYS_ES = {
    "Monday": "lunes",
    "Tuesday": "martes",
    "Wednesday": "miércoles",
    "Thursday": "jueves",
    "Friday": "viernes",
    "Saturday": "sábado",
    "Sunday": "domingo",
}
MONTHS_ES = ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic")
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
STATUS_ES = {"available": "disponible", "pending": "pendiente", "sold": "vendida", "rented": "rentada"}


def day_label_es(day: date, local_today: date) -> str:
    """'hoy', 'mañana', 'el sábado (28 nov)'."""
    if day == local_today:
        return "hoy"
    if day == local_today + timedelta(days=1):
        return "mañana"
    name = DAYS_ES[day.strftime("%A")]
    return f"el {name} ({day.day} {MONTHS_ES[day.month - 1]})"


def clock_es(value: datetime) -> str:
    """'9 AM' stays '9 AM' (how the office's hours are written), prefixed by 'a las'/'a la' by the caller."""
    text = value.strftime("%I:%M %p").lstrip("0")
    return text.replace(":00 ", " ")


def at_es(value: datetime) -> str:
    """'a las 9 AM', 'a la 1 PM'."""
    text = clock_es(value)
    return f"a la {text}" if text.startswith("1 ") or text.startswith("1:") else f"a las {text}"


def hours_es(text: str) -> str:
    """A day's or a week line's hours in Spanish: 'Monday Nov 30: Closed (Thanksgiving)' → 'lunes 30 nov: Cerrado
    (Thanksgiving)'. The holiday's name stays as the office wrote it."""
    for en, es in DAYS_ES.items():
        text = re.sub(rf"\b{en}\b", es, text)
    text = re.sub(
        r"\b(" + "|".join(MONTHS_EN) + r") (\d{1,2})\b",
        lambda m: f"{m.group(2)} {MONTHS_ES[MONTHS_EN.index(m.group(1))]}",
        text,
    )
    return text.replace("Closed", "Cerrado")


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else str(value)


def listing_summary_es(listing: Listing) -> str:
    """'Lote 14 — 3 hab./2 baños, 1,480 pies², 2019, $79,900 (disponible)'."""
    parts = []
    if listing.beds is not None or listing.baths is not None:
        parts.append(f"{_num(listing.beds)} hab./{_num(listing.baths)} baños")
    if listing.sqft:
        parts.append(f"{listing.sqft:,} pies²")
    if listing.year:
        parts.append(str(listing.year))
    head = f"Lote {listing.lot}" if listing.lot else listing.title
    price = f"${listing.price:,}" if listing.price else "precio a consultar"
    details = ", ".join(parts)
    return f"{head} — {details + ', ' if details else ''}{price} ({STATUS_ES.get(listing.status, listing.status)})"
