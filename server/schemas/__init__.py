"""marshmallow schemas for the JSON API, one module per area."""
