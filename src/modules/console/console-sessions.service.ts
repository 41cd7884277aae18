import crypto from 'node:crypto';
import type { Db } from '../../db/schema.ts';
import type { KeyResolver } from '../projects/projects.service.ts';
import * as repo from './console-sessions.repository.ts';

/** The console's session cookie: HttpOnly, SameSite=Strict, Path=/ (it authenticates /api/v1 too). */
export const SESSION_COOKIE = 'om_session';

export interface ConsoleSession {
  projectId: string;
  accessKey: string;
  csrfToken: string;
  expiresAt: Date;
}

export interface SessionSettings {
  idleMs: number;
  maxMs: number;
}

const hashToken = (token: string) => crypto.createHash('sha256').update(token).digest('hex');
const newToken = () => crypto.randomBytes(32).toString('base64url');

/** Compares in constant time for equal lengths (lengths are not secret: keys have one length). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/**
 * Checks the key pair as the API's signature check would (an unknown or revoked key fails the
 * same way as a wrong secret) and opens a session. The token goes to the cookie only; the
 * database keeps its hash.
 */
export async function openSession(
  db: Db,
  resolveKey: KeyResolver,
  settings: SessionSettings,
  pair: { accessKey: string; secretKey: string },
  now: Date,
): Promise<{ token: string; session: ConsoleSession } | undefined> {
  // A key is printable ASCII (it travels in a header); anything else, a NUL above all (PostgreSQL
  // refuses to compare it: a 500), names no key.
  if (!/^[\x20-\x7e]+$/.test(pair.accessKey)) return undefined;
  const key = await resolveKey(pair.accessKey);
  if (!key || !sameSecret(key.secret, pair.secretKey)) return undefined;
  await repo.deleteEndedSessions(db, now, settings.idleMs);
  const token = newToken();
  const session = { projectId: key.projectId, accessKey: pair.accessKey, csrfToken: newToken(), expiresAt: new Date(now.getTime() + settings.maxMs) };
  await repo.insertSession(db, { id: hashToken(token), ...session });
  return { token, session };
}

/** Writes last_seen_at at most this often: a request a second would otherwise be a write a second. */
const TOUCH_EVERY_MS = 60_000;

/**
 * The live session of a cookie token, or undefined: ended (idle or absolute expiry), signed out,
 * or its access key revoked since (checked through the resolver, which hears revocations).
 */
export async function findSession(db: Db, resolveKey: KeyResolver, settings: SessionSettings, token: string, now: Date): Promise<ConsoleSession | undefined> {
  if (!token || token.length > 100) return undefined;
  const id = hashToken(token);
  const row = await repo.findLiveSession(db, id, now, settings.idleMs);
  if (!row) return undefined;
  const key = await resolveKey(row.access_key);
  if (!key || key.projectId !== row.project_id) return undefined;
  if (now.getTime() - row.last_seen_at.getTime() > TOUCH_EVERY_MS) await repo.touchSession(db, id, now);
  return { projectId: row.project_id, accessKey: row.access_key, csrfToken: row.csrf_token, expiresAt: row.expires_at };
}

export async function closeSession(db: Db, token: string): Promise<void> {
  if (token && token.length <= 100) await repo.deleteSession(db, hashToken(token));
}
