// A small XMLHttpRequest for Node, on top of `fetch`: just what Uppy's `fetcher` uses (open,
// setRequestHeader, send of a Blob or FormData, abort, status, getResponseHeader, onload /
// onerror / onabort, upload.onprogress). Node has fetch, Blob and FormData but no XHR; the XHR
// packages on npm send neither Blob nor FormData bodies, or drop the response headers Uppy reads
// the ETag from. Upload progress is reported once, when the body has been sent.

class XMLHttpRequestUpload {
  onprogress = null;
}

export class XMLHttpRequest {
  static UNSENT = 0;
  static OPENED = 1;
  static HEADERS_RECEIVED = 2;
  static LOADING = 3;
  static DONE = 4;

  readyState = XMLHttpRequest.UNSENT;
  status = 0;
  statusText = '';
  response = '';
  responseText = '';
  responseType = '';
  responseURL = '';
  withCredentials = false;
  timeout = 0;
  upload = new XMLHttpRequestUpload();
  onload = null;
  onerror = null;
  onabort = null;
  onloadend = null;
  onreadystatechange = null;

  #method = 'GET';
  #url = '';
  #headers = new Headers();
  #responseHeaders = null;
  #controller = new AbortController();

  open(method, url) {
    this.#method = method;
    this.#url = String(url);
    this.#set(XMLHttpRequest.OPENED);
  }

  setRequestHeader(name, value) {
    this.#headers.append(name, value);
  }

  getResponseHeader(name) {
    return this.#responseHeaders?.get(name) ?? null;
  }

  getAllResponseHeaders() {
    if (!this.#responseHeaders) return '';
    return [...this.#responseHeaders].map(([k, v]) => `${k}: ${v}\r\n`).join('');
  }

  abort() {
    this.#controller.abort();
  }

  send(body = null) {
    const size = body instanceof Blob ? body.size : 1;
    fetch(this.#url, {
      method: this.#method,
      headers: this.#headers,
      body,
      signal: this.#controller.signal,
      credentials: this.withCredentials ? 'include' : 'same-origin',
    }).then(async (res) => {
      this.#fire(this.upload, 'progress', { lengthComputable: true, loaded: size, total: size });
      this.status = res.status;
      this.statusText = res.statusText;
      this.responseURL = res.url;
      this.#responseHeaders = res.headers;
      this.#set(XMLHttpRequest.HEADERS_RECEIVED);
      const text = await res.text();
      this.responseText = text;
      this.response = this.responseType === 'json' ? JSON.parse(text || 'null') : text;
      this.#set(XMLHttpRequest.DONE);
      this.#fire(this, 'load');
      this.#fire(this, 'loadend');
    }, (err) => {
      this.#set(XMLHttpRequest.DONE);
      this.#fire(this, err?.name === 'AbortError' ? 'abort' : 'error', { error: err });
      this.#fire(this, 'loadend');
    });
  }

  #set(state) {
    this.readyState = state;
    this.onreadystatechange?.({ type: 'readystatechange', target: this });
  }

  #fire(target, type, extra = {}) {
    target[`on${type}`]?.({ type, target: this, ...extra });
  }
}

globalThis.XMLHttpRequest ??= XMLHttpRequest;
