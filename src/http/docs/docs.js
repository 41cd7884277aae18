// The /docs page: Swagger UI over /openapi.json, and a requestInterceptor that signs every
// "Try it out" call to /api/v1 with the key pair entered on the page. The pair stays in this
// browser (sessionStorage, or localStorage when "remember" is ticked) and is never sent: only
// the signature headers computed from it are.
import { canSign, signatureHeaders } from './sign-request.js';

const STORE_KEY = 'outbound-mailer.docs.keys';
const $ = (id) => document.getElementById(id);

function loadKeys() {
  const raw = sessionStorage.getItem(STORE_KEY) ?? localStorage.getItem(STORE_KEY);
  try {
    return raw ? JSON.parse(raw) : { accessKey: '', secretKey: '' };
  } catch {
    return { accessKey: '', secretKey: '' };
  }
}

function saveKeys(keys, remember) {
  sessionStorage.removeItem(STORE_KEY);
  localStorage.removeItem(STORE_KEY);
  if (keys.accessKey || keys.secretKey) (remember ? localStorage : sessionStorage).setItem(STORE_KEY, JSON.stringify(keys));
}

function showStatus(text, isError) {
  const el = $('key-status');
  el.textContent = text;
  el.className = isError ? 'status error' : 'status';
}

let keys = loadKeys();
$('access-key').value = keys.accessKey;
$('secret-key').value = keys.secretKey;
$('remember').checked = localStorage.getItem(STORE_KEY) !== null;

if (!canSign()) {
  showStatus(
    'This page is not a secure context (https, or http://localhost), so the browser offers no Web Crypto: requests cannot be signed here. Open it as http://localhost:PORT/docs or over https.',
    true,
  );
} else {
  showStatus(keys.accessKey ? `Requests are signed with ${keys.accessKey}.` : 'Enter an access key pair to sign "Try it out" requests.', false);
}

$('keys-form').addEventListener('submit', (e) => {
  e.preventDefault();
  keys = { accessKey: $('access-key').value.trim(), secretKey: $('secret-key').value };
  saveKeys(keys, $('remember').checked);
  if (canSign()) showStatus(keys.accessKey ? `Requests are signed with ${keys.accessKey}.` : 'No key: requests go unsigned (401).', false);
});

$('forget').addEventListener('click', () => {
  keys = { accessKey: '', secretKey: '' };
  saveKeys(keys, false);
  $('access-key').value = '';
  $('secret-key').value = '';
  if (canSign()) showStatus('Keys forgotten: requests go unsigned (401).', false);
});

async function signInterceptor(req) {
  const target = new URL(req.url, location.href);
  if (target.origin !== location.origin || !target.pathname.startsWith('/api/v1/')) return req;
  if (!keys.accessKey || !keys.secretKey || !canSign()) return req;
  Object.assign(req.headers, await signatureHeaders({ ...keys, method: req.method ?? 'GET', url: target.href }));
  return req;
}

window.SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  tryItOutEnabled: true,
  displayRequestDuration: true,
  requestInterceptor: signInterceptor,
});
