/**
 * Report charts as inline SVG: turns the `chart` of a table from GET /api/reports into an
 * SVG string, with no library. The data needs no computation first: `categories` and
 * `category_labels` name the bars or points, each series has one value per category.
 *
 *   bar          one series, horizontal bars (long labels such as services read well)
 *   stacked_bar  series stacked per category (months)
 *   grouped_bar  series side by side per category
 *   line         one line per series; a null value leaves a gap
 *
 * Every text is escaped: labels are data (desa and group names), never markup.
 */

export const COLOURS = ['#2a6f97', '#e07a5f', '#81b29a', '#f2cc8f', '#6d597a', '#3d405b'];
const FONT = 11;
const PAD = 6;

export function escapeXml(value) {
  return String(value ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
}

function label(labelObj, lang) {
  if (labelObj == null) return '';
  if (typeof labelObj === 'string') return labelObj;
  return labelObj[lang] ?? labelObj.id ?? '';
}

/** A round upper bound for an axis: 1, 2 or 5 times a power of ten. */
export function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function num(value) {
  return Number.isFinite(value) ? value : 0;
}

// About how wide a text of n characters is at FONT size in a sans-serif face.
const textWidth = (text) => String(text).length * FONT * 0.55;

/** The text cut to fit `room` pixels, with an ellipsis (the full text stays in a title). */
export function fit(text, room) {
  const max = Math.max(1, Math.floor(room / (FONT * 0.55)));
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

function fmt(value) {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

function svg(width, height, title, body) {
  const t = escapeXml(title);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" ` +
    `width="${width}" height="${height}" role="img" aria-label="${t}" ` +
    `font-size="${FONT}" font-family="sans-serif"><title>${t}</title>${body}</svg>`
  );
}

function legend(series, lang, y) {
  let x = PAD;
  return series
    .map((s, i) => {
      const text = escapeXml(label(s.label, lang));
      const item =
        `<rect x="${x}" y="${y}" width="10" height="10" fill="${COLOURS[i % COLOURS.length]}"/>` +
        `<text x="${x + 14}" y="${y + 9}">${text}</text>`;
      x += 24 + text.length * FONT * 0.55;
      return item;
    })
    .join('');
}

function horizontalBars(chart, lang, width, title) {
  const values = (chart.series[0]?.values ?? []).map(num);
  const names = chart.categories.map((c, i) => label(chart.category_labels?.[i] ?? c, lang));
  const labelWidth = Math.min(width * 0.45, Math.max(...names.map(textWidth), FONT));
  const row = FONT + 8;
  const height = PAD * 2 + row * names.length;
  const max = Math.max(...values, 0) || 1;
  const room = width - labelWidth - PAD * 3 - FONT * 3;
  const body = names
    .map((name, i) => {
      const y = PAD + i * row;
      const w = (values[i] / max) * room;
      return (
        `<text x="${labelWidth}" y="${y + FONT}" text-anchor="end">` +
        `${escapeXml(fit(name, labelWidth))}<title>${escapeXml(name)}</title></text>` +
        `<rect class="bar" x="${labelWidth + PAD}" y="${y + 2}" width="${w.toFixed(1)}" ` +
        `height="${row - 6}" fill="${COLOURS[0]}">` +
        `<title>${escapeXml(name)}: ${fmt(values[i])}</title></rect>` +
        `<text x="${(labelWidth + PAD * 2 + w).toFixed(1)}" y="${y + FONT}">` +
        `${fmt(values[i])}</text>`
      );
    })
    .join('');
  return svg(width, height, title, body);
}

function frame(chart, lang, width, height, max) {
  const left = PAD + FONT * 3;
  const bottom = height - PAD - FONT * 2 - (chart.series.length > 1 ? 14 : 0);
  const top = PAD + FONT;
  const right = width - PAD;
  const axis =
    `<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#888"/>` +
    `<text x="${left - 3}" y="${bottom}" text-anchor="end">0</text>` +
    `<text x="${left - 3}" y="${top + FONT / 2}" text-anchor="end">${fmt(max)}</text>` +
    `<line x1="${left}" y1="${top}" x2="${right}" y2="${top}" stroke="#ddd"/>`;
  const step = (right - left) / Math.max(chart.categories.length, 1);
  let names = chart.categories.map((c, i) => label(chart.category_labels?.[i] ?? c, lang));
  // Labels that do not fit side by side: the first word ("Jan 2026" -> "Jan"), then only
  // every k-th label.
  if (Math.max(...names.map(textWidth)) > step - 2) names = names.map((n) => n.split(' ')[0]);
  const every = Math.max(1, Math.ceil((Math.max(...names.map(textWidth)) + 4) / step));
  const ticks = names
    .map((name, i) =>
      i % every
        ? ''
        : `<text x="${(left + step * (i + 0.5)).toFixed(1)}" ` +
          `y="${bottom + FONT + 3}" text-anchor="middle">${escapeXml(name)}</text>`,
    )
    .join('');
  const key = chart.series.length > 1 ? legend(chart.series, lang, height - PAD - 10) : '';
  const y = (v) => bottom - (v / max) * (bottom - top);
  return { left, bottom, top, step, y, body: axis + ticks + key };
}

function verticalBars(chart, lang, width, height, title, stacked) {
  const n = chart.categories.length;
  const totals = chart.categories.map((_, i) =>
    stacked
      ? chart.series.reduce((sum, s) => sum + num(s.values[i]), 0)
      : Math.max(0, ...chart.series.map((s) => num(s.values[i]))),
  );
  const max = niceMax(Math.max(0, ...totals));
  const f = frame(chart, lang, width, height, max);
  const bars = [];
  for (let i = 0; i < n; i += 1) {
    const x0 = f.left + f.step * i + f.step * 0.15;
    const room = f.step * 0.7;
    let base = 0;
    chart.series.forEach((s, k) => {
      const v = num(s.values[i]);
      if (v <= 0) return;
      const colour = COLOURS[k % COLOURS.length];
      const tip =
        `<title>${escapeXml(label(chart.category_labels?.[i] ?? chart.categories[i], lang))}, ` +
        `${escapeXml(label(s.label, lang))}: ${fmt(v)}</title>`;
      const x = stacked ? x0 : x0 + (room / chart.series.length) * k;
      const w = stacked ? room : room / chart.series.length;
      const yTop = f.y(base + v);
      const h = f.y(base) - yTop;
      bars.push(
        `<rect class="bar" data-series="${escapeXml(s.key)}" x="${x.toFixed(1)}" ` +
          `y="${yTop.toFixed(1)}" width="${w.toFixed(1)}" height="${h.toFixed(1)}" ` +
          `fill="${colour}">${tip}</rect>`,
      );
      if (stacked) base += v;
    });
  }
  return svg(width, height, title, f.body + bars.join(''));
}

function lines(chart, lang, width, height, title) {
  const all = chart.series.flatMap((s) => s.values.filter((v) => Number.isFinite(v)));
  const max = niceMax(Math.max(0, ...all));
  const f = frame(chart, lang, width, height, max);
  const paths = chart.series
    .map((s, k) => {
      const colour = COLOURS[k % COLOURS.length];
      let d = '';
      let pen = false;
      const dots = [];
      s.values.forEach((v, i) => {
        if (!Number.isFinite(v)) {
          pen = false;
          return;
        }
        const x = (f.left + f.step * (i + 0.5)).toFixed(1);
        const y = f.y(v).toFixed(1);
        d += `${pen ? 'L' : 'M'}${x} ${y} `;
        pen = true;
        dots.push(
          `<circle cx="${x}" cy="${y}" r="2.5" fill="${colour}"><title>` +
            `${escapeXml(label(chart.category_labels?.[i] ?? chart.categories[i], lang))}, ` +
            `${escapeXml(label(s.label, lang))}: ${fmt(v)}</title></circle>`,
        );
      });
      const path = d
        ? `<path class="line" data-series="${escapeXml(s.key)}" d="${d.trim()}" ` +
          `fill="none" stroke="${colour}" stroke-width="2"/>`
        : '';
      return path + dots.join('');
    })
    .join('');
  return svg(width, height, title, f.body + paths);
}

/**
 * The SVG markup of a report chart.
 * @param {object} chart  a table's `chart` from GET /api/reports
 * @param {object} options  lang ('id' or 'en'), width, height, title (the table's title)
 */
export function chartSvg(chart, { lang = 'id', width = 320, height = 180, title = '' } = {}) {
  const name = label(title, lang);
  const empty =
    !chart ||
    !chart.categories?.length ||
    !chart.series?.length ||
    chart.series.every((s) => s.values.every((v) => !num(v)));
  if (empty) {
    const text = lang === 'en' ? 'No data for this period' : 'Belum ada data pada periode ini';
    return svg(width, 40, name, `<text x="${PAD}" y="24">${escapeXml(text)}</text>`);
  }
  if (chart.type === 'bar') return horizontalBars(chart, lang, width, name);
  if (chart.type === 'line') return lines(chart, lang, width, height, name);
  return verticalBars(chart, lang, width, height, name, chart.type === 'stacked_bar');
}
