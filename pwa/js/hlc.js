/** Hybrid logical clocks: a port of sync/hlc.py (same encoding, same rules, same vectors). */

// "{wall_ms:015d}-{counter:05d}-{node}": fixed widths, so string order is clock order.
export const MAX_SKEW_MS = 5 * 60 * 1000;
const MAX_WALL = 1e15 - 1;
const MAX_COUNTER = 99999;
const NODE_RE = /^[A-Za-z0-9._:-]{1,40}$/;
const HLC_RE = /^(\d{15})-(\d{5})-(.+)$/;

/** A node id unchanged if valid; throws otherwise. */
export function checkNode(node) {
  if (typeof node !== 'string' || !NODE_RE.test(node)) throw new Error(`bad node id: ${node}`);
  return node;
}

/** The string form of (wall_ms, counter, node). */
export function encode(wallMs, counter, node) {
  if (!Number.isInteger(wallMs) || wallMs < 0 || wallMs > MAX_WALL)
    throw new Error(`wall_ms out of range: ${wallMs}`);
  if (!Number.isInteger(counter) || counter < 0 || counter > MAX_COUNTER)
    throw new Error(`counter out of range: ${counter}`);
  checkNode(node);
  return `${String(wallMs).padStart(15, '0')}-${String(counter).padStart(5, '0')}-${node}`;
}

/** {wallMs, counter, node} of an encoded HLC; throws if malformed. */
export function parse(value) {
  const m = typeof value === 'string' ? HLC_RE.exec(value) : null;
  if (!m) throw new Error(`bad HLC: ${value}`);
  const node = checkNode(m[3]);
  return { wallMs: Number(m[1]), counter: Number(m[2]), node };
}

/** True if value is a well-formed HLC string. */
export function isValid(value) {
  try {
    parse(value);
    return true;
  } catch {
    return false;
  }
}

/** The node id inside an HLC. */
export const nodeOf = (value) => parse(value).node;

/** The wall-clock milliseconds inside an HLC. */
export const wallOf = (value) => parse(value).wallMs;

/** -1, 0 or 1: plain string order is the clock order (never localeCompare). */
export const compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

// A counter past five digits moves the clock one millisecond on instead.
const tick = (wallMs, counter, node) =>
  counter > MAX_COUNTER ? encode(wallMs + 1, 0, node) : encode(wallMs, counter, node);

/** The HLC of a local event on node, strictly after last (a wall clock that goes back keeps last's
 *  time). */
export function now(node, last = null, wallMs = Date.now()) {
  checkNode(node);
  if (last == null) return encode(wallMs, 0, node);
  const prev = parse(last);
  if (wallMs > prev.wallMs) return encode(wallMs, 0, node);
  return tick(prev.wallMs, prev.counter + 1, node);
}

/** The local HLC after seeing remote: after both, keeping the local node id. */
export function receive(local, remote, wallMs = Date.now()) {
  const loc = parse(local);
  const rem = parse(remote);
  const top = Math.max(loc.wallMs, rem.wallMs, wallMs);
  let counter = 0;
  if (top === loc.wallMs && top === rem.wallMs) counter = Math.max(loc.counter, rem.counter) + 1;
  else if (top === loc.wallMs) counter = loc.counter + 1;
  else if (top === rem.wallMs) counter = rem.counter + 1;
  return tick(top, counter, loc.node);
}

/** [hlc, wasClamped]: an HLC too far ahead of the server clock is replaced by one at
 *  server time. */
export function clamp(remote, serverWallMs, maxSkewMs = MAX_SKEW_MS, last = null) {
  if (maxSkewMs < 0) throw new Error('max_skew_ms must not be negative');
  const rem = parse(remote);
  if (rem.wallMs <= serverWallMs + maxSkewMs) return [remote, false];
  return [now(rem.node, last, serverWallMs), true];
}

/** remote moved by byMs of wall time, same counter and node (wall kept within range). */
export function shift(remote, byMs) {
  const rem = parse(remote);
  return encode(Math.min(Math.max(rem.wallMs + byMs, 0), MAX_WALL), rem.counter, rem.node);
}

/** How far the server moves an edit's HLC into server time (hlc.py correction_ms): 0 with
 *  offset_ms, else minus the device's offset when beyond the skew. */
export function correctionMs(
  serverWallMs,
  offsetMs = null,
  deviceTimeMs = null,
  maxSkewMs = MAX_SKEW_MS,
) {
  if (offsetMs != null || deviceTimeMs == null) return 0;
  const off = deviceTimeMs - serverWallMs;
  return Math.abs(off) <= maxSkewMs ? 0 : -off;
}

/** A mutation's base in server time (hlc.py bound_base): own clocks move with it, clocks beyond the
 *  skew become null. */
export function boundBase(base, node, movedMs, serverWallMs, maxSkewMs = MAX_SKEW_MS) {
  if (base == null) return null;
  const out = {};
  for (const [name, value] of Object.entries(base)) {
    let stamp = value;
    if (stamp != null && movedMs && nodeOf(stamp) === node) stamp = shift(stamp, movedMs);
    if (stamp != null && wallOf(stamp) > serverWallMs + maxSkewMs) stamp = null;
    out[name] = stamp;
  }
  return out;
}
