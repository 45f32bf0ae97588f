/** The JSON API: one fetch wrapper whose every failure is an ApiError with a bilingual message. */

const TIMEOUT_MS = 30000;
// Bodies smaller than this are not worth the CPU of a cheap phone.
const GZIP_MIN_BYTES = 1024;
const OFFLINE = [
  'Tidak ada sinyal — data tersimpan di HP ini.',
  'No signal — the data is kept on this phone.',
];
const TIMEOUT = [
  'Sinyal terlalu lemah, server tidak menjawab. Data tersimpan di HP ini.',
  'The signal is too weak; the server did not answer. The data is kept on this phone.',
];
// An answer that is not the API's JSON came from something between the phone and the
// server: a gateway's error page, or (with a 2xx) a captive portal, often "kuota habis".
const UNREACHABLE = [
  'Server tidak dapat dihubungi. Data tersimpan di HP ini; dicoba lagi nanti.',
  'The server could not be reached. The data is kept on this phone; trying again later.',
];
const CAPTIVE = [
  'Paket internet mungkin habis atau jaringan meminta login. '
    + 'Data tersimpan di HP ini; dicoba lagi nanti.',
  'The internet package may be used up, or the network asks to log in. '
    + 'The data is kept on this phone; trying again later.',
];
const REASONS = {
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'too_large',
  422: 'invalid',
  429: 'rate_limited',
};

/** An API failure: status 0 when the server was not reached; message_id/message_en for the
 *  user; code: the API's error.code (docs/sync-protocol.md), null when the answer had none;
 *  reason 'unreachable' or 'captive' for an answer that was not the API's JSON. */
export class ApiError extends Error {
  constructor(
    status,
    message_id,
    message_en,
    fields = null,
    reason = null,
    extra = {},
    code = null,
  ) {
    super(message_en || message_id || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.message_id = message_id;
    this.message_en = message_en;
    this.fields = fields;
    this.reason = reason || REASONS[status] || (status >= 500 ? 'server' : 'http');
    this.extra = extra;
    this.code = code;
  }
}

async function gzip(text) {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Response(stream).arrayBuffer();
}

/** Parsed JSON of one API call (null for 204); throws ApiError, status 0 without a network.
 *  Options: {gzip, timeoutMs}. */
export async function request(
  method,
  path,
  body,
  token,
  { gzip: pack = false, timeoutMs = TIMEOUT_MS } = {},
) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined && body !== null) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
    // The server inflates gzip bodies (server/api/sync.py); a day's outbox shrinks ~10x.
    if (pack && payload.length >= GZIP_MIN_BYTES && typeof CompressionStream === 'function') {
      payload = await gzip(payload);
      headers['Content-Encoding'] = 'gzip';
    }
  }
  const abort = new AbortController();
  // A hanging request on a weak signal must not hold the sync forever.
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let response;
  let text;
  try {
    const options = { method, headers, body: payload, signal: abort.signal, cache: 'no-store' };
    response = await fetch(path, options);
    text = response.status === 204 ? '' : await response.text();
  } catch {
    throw abort.signal.aborted
      ? new ApiError(0, ...TIMEOUT, null, 'timeout')
      : new ApiError(0, ...OFFLINE, null, 'offline');
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 204) return null;
  const data = apiJson(response, text);
  if (data === undefined) {
    throw response.ok
      ? new ApiError(response.status, ...CAPTIVE, null, 'captive')
      : new ApiError(response.status, ...UNREACHABLE, null, 'unreachable');
  }
  if (response.ok) return data;
  if (!data || typeof data.error !== 'object' || !data.error)
    throw new ApiError(response.status, ...UNREACHABLE, null, 'unreachable');
  const { status: _status, code = null, message = {}, fields = null, ...extra } = data.error;
  // An admin revoked this phone: whatever asked, the app erases its data (app.js).
  if (code === 'device_revoked' && typeof window !== 'undefined') {
    window.dispatchEvent(new CustomEvent('jangkau:revoked'));
  }
  throw new ApiError(
    response.status,
    message.id || `Kesalahan ${response.status}`,
    message.en || `Error ${response.status}`,
    fields,
    null,
    extra,
    code,
  );
}

/** An answer is the API's when it says JSON and is JSON: the parsed value, else undefined. */
function apiJson(response, text) {
  if (!/^application\/json\b/i.test(response.headers.get('Content-Type') || '')) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Throw unless an answer of /api/sync has the shape of docs/sync-protocol.md §10: JSON of
 *  another service (a portal's login API) must not be read as "nothing changed". */
export function checkSyncAnswer(answer) {
  const ok =
    answer &&
    typeof answer === 'object' &&
    Number.isInteger(answer.last_mutation_id) &&
    Number.isInteger(answer.cursor) &&
    Array.isArray(answer.changes) &&
    Array.isArray(answer.refused);
  if (!ok) throw new ApiError(200, ...UNREACHABLE, null, 'unreachable');
  return answer;
}

/** {token, user} for this device; throws ApiError (401 for a wrong password, 429 when locked). */
export function login(username, password, deviceName) {
  return request('POST', '/api/auth/login', { username, password, device_name: deviceName || '' });
}
