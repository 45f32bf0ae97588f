/** A file from the API saved on the phone: fetched with the bearer token (a plain link
 *  carries none), then handed to the browser as a download of a blob. */

import { ApiError } from './api.js';

const OFFLINE = ['Tidak ada sinyal — berkas tidak dapat diunduh.',
  'No signal — the file cannot be downloaded.'];

function fileName(response, fallback) {
  const header = response.headers.get('Content-Disposition') || '';
  return header.match(/filename="([^"]+)"/)?.[1] || fallback;
}

async function failure(response) {
  try {
    const { error } = await response.json();
    const message = error.message || {};
    return new ApiError(response.status, message.id, message.en, error.fields, null, {},
      error.code);
  } catch {
    const status = response.status;
    return new ApiError(status, `Kesalahan ${status}`, `Error ${status}`);
  }
}

/** Download path as a file; throws ApiError (status 0 without a network). */
export async function downloadFile(path, token, fallbackName) {
  let response;
  try {
    const headers = { Authorization: `Bearer ${token}` };
    response = await fetch(path, { headers, cache: 'no-store' });
  } catch {
    throw new ApiError(0, ...OFFLINE, null, 'offline');
  }
  if (!response.ok) throw await failure(response);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName(response, fallbackName);
  document.body.append(link);
  link.click();
  link.remove();
  // The blob is freed once the browser has surely read it.
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
