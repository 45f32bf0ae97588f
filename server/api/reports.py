"""Reports: the figures for the desk's screen (JSON) and their exports (CSV, XLSX).

The figures and who may see them are server.domain.reports; this module reads the query,
writes the files and logs each export.
"""

from __future__ import annotations

import csv
import io
import re

from flask import Response
from flask import g
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from .. import audit
from .. import auth
from ..domain import reports
from ..extensions import db
from ..validation import Bilingual
from ..validation import fail
from . import api_bp
from .openapi import doc
from .util import query_args

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _month(value: str) -> None:
    match = _MONTH.fullmatch(value)
    if match is None or not 2000 <= int(match.group(1)) <= 2100:
        raise fail("Bulan harus berformat TTTT-BB, mis. 2026-01.",
                   "The month must be YYYY-MM, e.g. 2026-01.")


class ReportQuerySchema(Schema):
    from_ = fields.String(data_key="from", validate=_month, metadata={
        "description": "First month, YYYY-MM (WIB). Default: 11 months before `to`."})
    to = fields.String(validate=_month, metadata={
        "description": "Last month, YYYY-MM (WIB). Default: the current month."})
    by = fields.String(load_default="kecamatan", validate=validate.OneOf(reports.BY),
                       metadata={"description": "Rows per kecamatan or per desa (a report "
                                                "of one desa is always per desa)."})
    area = fields.String(validate=validate.Length(max=13), metadata={
        "description": "Narrow to one kecamatan or desa (its Kemendagri code)."})

    @validates_schema
    def check_period(self, data, **kwargs):
        first, last = data.get("from_"), data.get("to")
        if first and last and first > last:
            raise ValidationError(Bilingual("Harus sama dengan atau sesudah bulan `from`.",
                                            "Must be the same as or after the `from` month."),
                                  field_name="to")
        if first and last and reports.months_between(first, last) > reports.MAX_MONTHS:
            raise ValidationError(
                Bilingual(f"Paling banyak {reports.MAX_MONTHS} bulan.",
                          f"At most {reports.MAX_MONTHS} months."), field_name="to")


class ReportExportQuerySchema(ReportQuerySchema):
    format = fields.String(required=True, validate=validate.OneOf(("csv", "xlsx")))
    table = fields.String(validate=validate.OneOf(reports.TABLE_KEYS), metadata={
        "description": "One table; required for CSV. XLSX without it: every table, a sheet "
                       "each."})

    @validates_schema
    def check_table(self, data, **kwargs):
        if data.get("format") == "csv" and not data.get("table"):
            raise ValidationError(Bilingual("Wajib diisi untuk CSV (satu tabel per berkas).",
                                            "Required for CSV (one table per file)."),
                                  field_name="table")


class ReportLabelSchema(Schema):
    id = fields.String(metadata={"description": "Bahasa Indonesia"})
    en = fields.String(metadata={"description": "English"})


class ReportColumnSchema(Schema):
    key = fields.String()
    label = fields.Nested(ReportLabelSchema)
    kind = fields.String(metadata={
        "description": "month, code, text, label, count, persons (shown as \"<3\" in "
                       "exports when 1 or 2), hours (\"<3\" in exports when its `basis` "
                       "column counts 1 or 2), date, days."})
    basis = fields.String()


class ReportChartSeriesSchema(Schema):
    key = fields.String()
    label = fields.Nested(ReportLabelSchema)
    values = fields.List(fields.Float(allow_none=True))


class ReportChartSchema(Schema):
    type = fields.String(metadata={"description": "bar, stacked_bar, grouped_bar or line"})
    categories = fields.List(fields.String())
    category_labels = fields.List(fields.Nested(ReportLabelSchema))
    series = fields.List(fields.Nested(ReportChartSeriesSchema), metadata={
        "description": "One value per category, in the order of `categories`."})


class ReportTableSchema(Schema):
    key = fields.String()
    title = fields.Nested(ReportLabelSchema)
    note = fields.Nested(ReportLabelSchema)
    columns = fields.List(fields.Nested(ReportColumnSchema))
    rows = fields.List(fields.Dict(), metadata={"description": "Keyed by column key."})
    totals = fields.Dict(allow_none=True)
    chart = fields.Nested(ReportChartSchema, allow_none=True)


class ReportSchema(Schema):
    period = fields.Dict()
    by = fields.String()
    area = fields.String(allow_none=True)
    scope = fields.Dict()
    today = fields.String()
    no_outreach_days = fields.Integer()
    tables = fields.List(fields.Nested(ReportTableSchema))


def _report(schema) -> tuple[dict, dict]:
    args = query_args(schema)
    period = reports.period_of(args.get("from_"), args.get("to"))
    report = reports.build_report(g.user, period, args["by"],
                                  args.get("area"))
    return args, report


@api_bp.get("/reports")
@auth.login_required()
@doc(query=ReportQuerySchema, response=ReportSchema, errors=(403, 404))
def get_report():
    """The report's tables and charts for a period, per month and kecamatan or desa.

    The LTSA desk and admins see the kabupaten, a village official their own desa; other
    roles are refused (403). An `area` outside the official's desa is 404. Exact figures:
    the small-cell rule applies to the exports, which leave the desk.
    """
    return _report(ReportQuerySchema())[1]


def _csv_cell(value):
    # A spreadsheet opening the CSV must not run user text (a desa or group name) as a
    # formula: such text gets a leading apostrophe, the usual guard.
    if isinstance(value, str) and reports.is_formula_like(value):
        return "'" + value
    return "" if value is None else value


def _csv(table: dict) -> bytes:
    header, rows = reports.export_rows(table)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    # With a BOM, spreadsheets read the file as UTF-8.
    return out.getvalue().encode("utf-8-sig")


def _xlsx(tables: list[dict]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    workbook.remove(workbook.active)
    for table in tables:
        sheet = workbook.create_sheet(table["key"][:31])
        header, rows = reports.export_rows(table)
        sheet.append(header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for r, row in enumerate(rows, start=2):
            for c, value in enumerate(row, start=1):
                cell = sheet.cell(row=r, column=c)
                cell.value = value
                if isinstance(value, str):
                    # Text is text: never a formula, whatever it starts with; quotePrefix
                    # keeps it text when someone edits the cell.
                    cell.data_type = "s"
                    if reports.is_formula_like(value):
                        cell.quotePrefix = True
        sheet.freeze_panes = "A2"
        for column, title in zip(sheet.columns, header, strict=True):
            widest = max([len(str(c.value)) for c in column if c.value is not None] + [12])
            sheet.column_dimensions[column[0].column_letter].width = min(
                max(widest, len(title) // 2) + 2, 40)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


@api_bp.get("/reports/export")
@auth.login_required()
@doc(query=ReportExportQuerySchema, errors=(403, 404))
def export_report():
    """The report's tables as a file: CSV (one table) or XLSX (one table, or all as sheets).

    The same figures as GET /api/reports, except that a cell counting 1 or 2 persons
    (and a median or percentile computed from 1 or 2 referrals) shows "<3"; zero stays 0.
    Text never starts a formula. Every export is written to the audit log.
    """
    args, report = _report(ReportExportQuerySchema())
    tables = [t for t in report["tables"] if args.get("table") in (None, t["key"])]
    fmt = args["format"]
    body = _csv(tables[0]) if fmt == "csv" else _xlsx(tables)
    period = report["period"]
    audit.record("export", "report", None, {
        "format": fmt, "tables": [t["key"] for t in tables], "from": period["from"],
        "to": period["to"], "by": report["by"], "area": report["area"],
        "scope": report["scope"]})
    db.session.commit()
    name = f'jangkau-laporan-{args.get("table") or "semua"}-{period["from"]}-{period["to"]}'
    # Cache-Control: no-store, as on every /api answer (server.register_headers).
    return Response(body, mimetype=CSV_TYPE if fmt == "csv" else XLSX_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"'})
