"""pwa/js/chart.js in Chromium: a report's chart data becomes SVG markup, its text escaped."""

import pytest

pytestmark = pytest.mark.browser

# Draws a chart and reads the SVG back through the browser's own parser.
DRAW = """
async ([chart, options]) => {
  const { chartSvg } = await import('/js/chart.js');
  const markup = chartSvg(chart, options);
  const doc = new DOMParser().parseFromString(markup, 'image/svg+xml');
  const root = doc.documentElement;
  const num = (el, name) => Number(el.getAttribute(name));
  return {
    error: doc.querySelector('parsererror') !== null,
    tag: root.tagName,
    label: root.getAttribute('aria-label'),
    texts: [...root.querySelectorAll(':scope > text')].map((t) => t.textContent),
    titles: [...root.querySelectorAll('title')].map((t) => t.textContent),
    scripts: root.querySelectorAll('script').length,
    bars: [...root.querySelectorAll('rect.bar')].map((r) => ({
      series: r.getAttribute('data-series'), y: num(r, 'y'), height: num(r, 'height'),
      width: num(r, 'width')})),
    lines: [...root.querySelectorAll('path.line')].map((p) => p.getAttribute('d')),
  };
}
"""

MONTHS = {"categories": ["2026-01", "2026-02"],
          "category_labels": [{"id": "Jan 2026", "en": "Jan 2026"},
                              {"id": "Feb 2026", "en": "Feb 2026"}]}


def draw(page, chart, **options):
    result = page.evaluate(DRAW, [chart, options])
    assert not result["error"] and result["tag"] == "svg"
    return result


def test_stacked_bars_are_as_tall_as_their_values(module_blank_page):
    chart = MONTHS | {"type": "stacked_bar", "series": [
        {"key": "female", "label": {"id": "Perempuan (P)", "en": "Women (P)"}, "values": [13, 6]},
        {"key": "male", "label": {"id": "Laki-laki (L)", "en": "Men (L)"}, "values": [5, 0]},
        {"key": "children", "label": {"id": "Anak", "en": "Children"}, "values": [2, 1]}]}
    result = draw(module_blank_page, chart, title={"id": "Kunjungan", "en": "Visits"},
                  lang="en")
    assert result["label"] == "Visits"
    # A zero draws no bar: 3 in January, 2 in February.
    assert [b["series"] for b in result["bars"]] == [
        "female", "male", "children", "female", "children"]
    heights = [b["height"] for b in result["bars"]]
    # The axis runs to 20 (the January stack): 13, 5 and 2 twentieths of the same height.
    assert heights[0] / heights[1] == pytest.approx(13 / 5, rel=0.02)
    assert heights[0] / heights[3] == pytest.approx(13 / 6, rel=0.02)
    january = result["bars"][:3]
    assert january[0]["y"] == pytest.approx(january[1]["y"] + january[1]["height"], abs=0.2)
    assert "20" in result["texts"] and "Jan 2026" in result["texts"]


def test_a_line_breaks_where_a_value_is_missing(module_blank_page):
    chart = {"type": "line", "categories": ["a", "b", "c", "d"], "series": [
        {"key": "median_hours", "label": {"id": "Median (jam)", "en": "Median (hours)"},
         "values": [12.0, None, 52.5, 60]}]}
    result = draw(module_blank_page, chart)
    (path,) = result["lines"]
    assert path.count("M") == 2 and path.count("L") == 1


def test_labels_are_text_never_markup(module_blank_page):
    name = '<script>alert(1)</script> & "=HYPERLINK()"'
    chart = {"type": "bar", "categories": ["x"], "category_labels": [{"id": name, "en": name}],
             "series": [{"key": "referrals", "label": "Rujukan", "values": [3]}]}
    result = draw(module_blank_page, chart, title=name)
    assert result["scripts"] == 0
    # The label is cut to fit beside its bar; the whole name is its tooltip.
    assert result["label"] == name and name in result["titles"]
    assert any(t.startswith("<script>") and name in t for t in result["texts"])
    assert len(result["bars"]) == 1 and result["bars"][0]["width"] > 0


def test_no_data_says_so(module_blank_page):
    chart = MONTHS | {"type": "grouped_bar", "series": [
        {"key": "female", "label": "P", "values": [0, 0]}]}
    assert draw(module_blank_page, chart)["texts"] == ["Belum ada data pada periode ini"]
    assert draw(module_blank_page, None, lang="en")["texts"] == ["No data for this period"]
