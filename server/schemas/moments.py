"""Date-time fields of the API: always with an offset (SQLite keeps none)."""

import datetime as dt

from marshmallow import fields


class UTCDateTime(fields.DateTime):
    """ISO 8601 with an offset; a time sent or stored without one is UTC."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return super()._serialize(value, attr, obj, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class UTCMoment(UTCDateTime):
    """A moment sent with any offset (an appointment in WIB, say), kept in UTC: SQLite keeps
    no offset, so the moment must be in UTC before it is stored."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).astimezone(dt.UTC)
