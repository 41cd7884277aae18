import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Access-key secrets must be readable by the server (HMAC verification needs them) but never
 * stored in plain text: they are sealed with AES-256-GCM under a master key that lives outside
 * the database (MASTER_KEY, or DATA_DIR/master.key created on first start with mode 0600).
 */
export interface SecretBox {
  seal(plain: string): string;
  open(sealed: string): string;
}

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new Error('master key must be 32 bytes');
  return {
    seal(plain) {
      const iv = crypto.randomBytes(12);
      const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
      const enc = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), enc.toString('base64')].join(':');
    },
    open(sealed) {
      const [v, iv, tag, enc] = sealed.split(':');
      if (v !== 'v1' || !iv || !tag || enc === undefined) throw new Error('unknown sealed secret format');
      const decipher = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(enc, 'base64')), decipher.final()]).toString('utf8');
    },
  };
}

export function parseMasterKey(text: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (key.length !== 32) throw new Error('MASTER_KEY must be 32 bytes, as 64 hex digits or base64');
  return key;
}

/** MASTER_KEY if given, else DATA_DIR/master.key, created on first use. */
export function loadMasterKey(masterKey: string | undefined, dataDir: string): Buffer {
  if (masterKey) return parseMasterKey(masterKey);
  const file = path.join(dataDir, 'master.key');
  try {
    return parseMasterKey(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const key = crypto.randomBytes(32);
  try {
    fs.writeFileSync(file, key.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return parseMasterKey(fs.readFileSync(file, 'utf8'));
    throw err;
  }
  return key;
}

const derivedKeys = new Map<string, Buffer>();
/**
 * A key derived from this deployment's master key (MASTER_KEY, or DATA_DIR/master.key) for one
 * purpose, read and derived once per process.
 */
export function derivedKeyFor(config: { masterKey: string | undefined; dataDir: string }, purpose: string, derive: (masterKey: Buffer) => Buffer): Buffer {
  const id = `${purpose}\n${config.masterKey ?? ''}\n${config.dataDir}`;
  let key = derivedKeys.get(id);
  if (!key) {
    key = derive(loadMasterKey(config.masterKey, config.dataDir));
    derivedKeys.set(id, key);
  }
  return key;
}
