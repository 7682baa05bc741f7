// Uploads files to studio through its Companion routes with the real, unmodified
// `@uppy/core` + `@uppy/aws-s3` (v6), as a browser app would configure them, and prints the
// outcome as one JSON line on stdout: {"successful":[{name,key,location}],"failed":[{name,error}]}.
//
// Environment:
//   STUDIO_URL        http://127.0.0.1:PORT
//   STUDIO_TOKEN      the bearer token (JWT)
//   STUDIO_PROJECT_ID the project to upload to
//   UPPY_FILES        JSON [{name, type, size, seed}]: made-up content, byte i = (i*31 + seed) & 255
//   UPPY_AUTH         `path` (default): companionEndpoint = {api}/api/uppy/token/{token}, what an
//                     unmodified v6 client can send; `header`: companionEndpoint = {api}/api/uppy
//                     and an `Authorization` header added to Uppy's Companion calls by wrapping
//                     `fetch` (v6 sends no `companionHeaders`)
//   UPPY_MULTIPART_ABOVE  files larger than this many bytes go multipart (Uppy's default: 100 MiB)
import './xhr.mjs';
import Uppy from '@uppy/core';
import AwsS3 from '@uppy/aws-s3';

const api = process.env.STUDIO_URL;
const token = process.env.STUDIO_TOKEN;
const projectId = process.env.STUDIO_PROJECT_ID;
const files = JSON.parse(process.env.UPPY_FILES ?? '[]');
const auth = process.env.UPPY_AUTH ?? 'path';
const multipartAbove = Number(process.env.UPPY_MULTIPART_ABOVE ?? 100 * 1024 * 1024);

let companionEndpoint;
if (auth === 'path') {
  companionEndpoint = `${api}/api/uppy/token/${encodeURIComponent(token)}`;
} else if (auth === 'header') {
  companionEndpoint = `${api}/api/uppy`;
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init = {}) => {
    const url = typeof input === 'string' ? input : input.url;
    if (url.startsWith(`${companionEndpoint}/`)) {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${token}`);
      return realFetch(input, { ...init, headers });
    }
    return realFetch(input, init);
  };
} else {
  throw new Error(`UPPY_AUTH must be path or header, not ${auth}`);
}

function content(size, seed) {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed) & 255;
  return bytes;
}

const uppy = new Uppy({ meta: { projectId } });
// Companion's protocol does not carry the size; studio needs it to reserve the quota.
uppy.on('file-added', (file) => uppy.setFileMeta(file.id, { size: file.size }));
uppy.use(AwsS3, {
  companionEndpoint,
  shouldUseMultipart: (file) => file.size > multipartAbove,
});
for (const f of files) {
  uppy.addFile({ name: f.name, type: f.type, data: new Blob([content(f.size, f.seed)], { type: f.type }) });
}
const result = await uppy.upload();
console.log(JSON.stringify({
  successful: (result?.successful ?? []).map((f) => ({
    name: f.name,
    key: f.response?.body?.key,
    location: f.response?.body?.location,
  })),
  failed: (result?.failed ?? []).map((f) => ({ name: f.name, error: String(f.error) })),
}));
