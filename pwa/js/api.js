/** The JSON API: one fetch wrapper whose every failure is an ApiError with a bilingual message. */

const TIMEOUT_MS = 30000;
// Bodies smaller than this are not worth the CPU of a cheap phone.
const GZIP_MIN_BYTES = 1024;
const OFFLINE = ['Tidak ada sinyal — data tersimpan di HP ini.', 'No signal — the data is kept on this phone.'];
const TIMEOUT = ['Sinyal terlalu lemah, server tidak menjawab. Data tersimpan di HP ini.', 'The signal is too weak; the server did not answer. The data is kept on this phone.'];
const BAD_ANSWER = ['Jawaban server tidak dapat dibaca.', 'The server answer could not be read.'];
const REASONS = { 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 409: 'conflict', 413: 'too_large', 422: 'invalid', 429: 'rate_limited' };

/** An API failure: status 0 when the server was not reached; message_id/message_en for the user. */
export class ApiError extends Error {
  constructor(status, message_id, message_en, fields = null, reason = null, extra = {}) {
    super(message_en || message_id || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.message_id = message_id;
    this.message_en = message_en;
    this.fields = fields;
    this.reason = reason || REASONS[status] || (status >= 500 ? 'server' : 'http');
    this.extra = extra;
  }
}

async function gzip(text) {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Response(stream).arrayBuffer();
}

/** Parsed JSON of one API call (null for 204); throws ApiError, status 0 without a network. Options: {gzip, timeoutMs}. */
export async function request(method, path, body, token, { gzip: pack = false, timeoutMs = TIMEOUT_MS } = {}) {
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
    response = await fetch(path, { method, headers, body: payload, signal: abort.signal, cache: 'no-store' });
    text = response.status === 204 ? '' : await response.text();
  } catch {
    throw abort.signal.aborted ? new ApiError(0, ...TIMEOUT, null, 'timeout') : new ApiError(0, ...OFFLINE, null, 'offline');
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(response.status, ...BAD_ANSWER, null, 'bad_response');
  }
  if (response.ok) return data;
  const { status: _status, message = {}, fields = null, ...extra } = (data && data.error) || {};
  throw new ApiError(response.status, message.id || `Kesalahan ${response.status}`, message.en || `Error ${response.status}`, fields, null, extra);
}

/** {token, user} for this device; throws ApiError (401 for a wrong password, 429 when locked). */
export function login(username, password, deviceName) {
  return request('POST', '/api/auth/login', { username, password, device_name: deviceName || '' });
}
