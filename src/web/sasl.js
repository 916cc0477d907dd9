// sasl.js — the login mechanisms: SCRAM-SHA-256 (RFC 5802 with RFC 7677's
// hash), which never sends the password, and PLAIN, which does (the server
// offers it only over TLS or to this machine). Owns the SHA-256, HMAC and
// PBKDF2 they need, in plain JavaScript: WebCrypto exists only on https and
// localhost pages, and a LAN chat is often plain http. Pure: no I/O.

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** SHA-256 of a byte array (FIPS 180-4). */
export function sha256(data) {
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const bitLen = data.length * 8;
  const padded = new Uint8Array(((data.length + 9 + 63) >> 6) << 6);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLen / 2 ** 32));
  view.setUint32(padded.length - 4, bitLen >>> 0);
  const w = new Uint32Array(64);
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15];
      const b = w[i - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[i] + w[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setUint32(i * 4, h[i]);
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** HMAC-SHA-256 (RFC 2104). */
export function hmac(key, message) {
  const k = key.length > 64 ? sha256(key) : key;
  const block = new Uint8Array(64);
  block.set(k);
  const ipad = block.map((b) => b ^ 0x36);
  const opad = block.map((b) => b ^ 0x5c);
  return sha256(concat(opad, sha256(concat(ipad, message))));
}

/** PBKDF2-HMAC-SHA-256 with one 32-byte block: SCRAM's Hi(). */
export function pbkdf2(password, salt, iterations) {
  let u = hmac(password, concat(salt, new Uint8Array([0, 0, 0, 1])));
  const out = u.slice();
  for (let i = 1; i < iterations; i++) {
    u = hmac(password, u);
    for (let j = 0; j < 32; j++) out[j] ^= u[j];
  }
  return out;
}

const utf8 = new TextEncoder();

export function toBase64(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

const MIN_ITERATIONS = 4096;
const MAX_ITERATIONS = 1_000_000; // a hostile server must not make the page spin for minutes

/**
 * SCRAM-SHA-256 for SASL. `step(serverMessage)` takes each server message
 * (a string; "" for the first, empty challenge) and returns what to send
 * back, or throws an Error saying why the exchange cannot go on — including
 * when the server fails to prove that it knows the password.
 */
export class ScramSha256 {
  constructor(user, password, nonce) {
    this.user = user;
    this.password = password;
    this.nonce = nonce || toBase64(crypto.getRandomValues(new Uint8Array(18)));
    this.state = "start";
  }

  step(message) {
    if (this.state === "start") {
      const name = this.user.replace(/=/g, "=3D").replace(/,/g, "=2C");
      this.firstBare = `n=${name},r=${this.nonce}`;
      this.state = "first-sent";
      return "n,," + this.firstBare;
    }
    if (this.state === "first-sent") {
      const attrs = parseAttrs(message);
      if (attrs.e) throw new Error(`the server refused the login (${attrs.e})`);
      const iterations = Number(attrs.i);
      if (!attrs.r || !attrs.s || !Number.isInteger(iterations)) throw new Error("the server's SCRAM message is malformed");
      if (!attrs.r.startsWith(this.nonce)) throw new Error("the server's nonce does not extend ours");
      if (iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
        throw new Error(`the server asked for ${iterations} PBKDF2 iterations`);
      }
      const salted = pbkdf2(utf8.encode(this.password), fromBase64(attrs.s), iterations);
      const clientKey = hmac(salted, utf8.encode("Client Key"));
      const storedKey = sha256(clientKey);
      const withoutProof = `c=biws,r=${attrs.r}`;
      const authMessage = utf8.encode(`${this.firstBare},${message},${withoutProof}`);
      const signature = hmac(storedKey, authMessage);
      const proof = clientKey.map((b, i) => b ^ signature[i]);
      this.serverSignature = toBase64(hmac(hmac(salted, utf8.encode("Server Key")), authMessage));
      this.state = "final-sent";
      return `${withoutProof},p=${toBase64(proof)}`;
    }
    if (this.state === "final-sent") {
      const attrs = parseAttrs(message);
      if (attrs.e) throw new Error(`the server refused the login (${attrs.e})`);
      if (attrs.v !== this.serverSignature) throw new Error("the server could not prove that it knows your password");
      this.state = "done";
      return "";
    }
    throw new Error("the server sent more than SCRAM expects");
  }
}

function parseAttrs(message) {
  const attrs = {};
  for (const part of message.split(",")) {
    const eq = part.indexOf("=");
    if (eq === 1) attrs[part[0]] = part.slice(2);
  }
  return attrs;
}

/** PLAIN (RFC 4616): the password itself, for servers that offer nothing better. */
export class Plain {
  constructor(user, password) {
    this.user = user;
    this.password = password;
    this.sent = false;
  }

  step() {
    if (this.sent) throw new Error("the server sent more than PLAIN expects");
    this.sent = true;
    return `${this.user}\0${this.user}\0${this.password}`;
  }
}
