import { badRequest, notFound } from '../../shared/errors.ts';
import { isValidEmail } from '../../shared/email-address.ts';
import { LIMITS as MAIL_LIMITS } from '../../shared/mail-limits.ts';

/**
 * The rules of template and category bodies (ncp-api-reference §7) that the OpenAPI schema can't
 * say well. Pure; throws 400/77102 naming the field and the rule.
 */
export const TEMPLATE_LIMITS = {
  nameChars: 100,
  descriptionBytes: 300,
  titleBytes: MAIL_LIMITS.titleBytes,
  bodyBytes: MAIL_LIMITS.bodyBytes,
  senderNameBytes: MAIL_LIMITS.senderNameBytes,
  /** levels of categories (a top-level category is level 1): trees are walked and serialised whole */
  categoryDepth: 20,
  /** categories and templates one backup may import */
  importCategories: 10_000,
  importTemplates: 10_000,
} as const;

/**
 * Template and category names: 1–100 characters of Hangul, A–Z, a–z, 0–9, ".", "_", "-", and
 * spaces between them (NCP's own example is "AD Template"); not at either end, where a name
 * would look like another.
 */
const NAME = /^[\p{Script=Hangul}A-Za-z0-9._-](?:[\p{Script=Hangul}A-Za-z0-9._ -]*[\p{Script=Hangul}A-Za-z0-9._-])?$/u;

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

export function checkName(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw badRequest(`${field}: required`);
  if ([...value].length > TEMPLATE_LIMITS.nameChars) throw badRequest(`${field}: at most ${TEMPLATE_LIMITS.nameChars} characters`);
  if (!NAME.test(value)) throw badRequest(`${field}: only Hangul, letters A-Z and a-z, digits, ".", "_", "-" and spaces between them are allowed`);
  return value;
}

export interface TemplateInput {
  templateName?: string | null;
  description?: string | null;
  title?: string | null;
  body?: string | null;
  senderAddress?: string | null;
  senderName?: string | null;
  isUse?: boolean | null;
}

export interface TemplateFields {
  name: string;
  description: string | null;
  title: string;
  body: string;
  senderAddress: string;
  senderName: string | null;
  isUse: boolean;
}

/** createTemplate / updateTemplate (a full replacement): every field checked, defaults applied. */
export function validateTemplateFields(input: TemplateInput, field = (name: string) => name): TemplateFields {
  const name = checkName(field('templateName'), input.templateName);
  const description = input.description || null;
  if (description && bytes(description) > TEMPLATE_LIMITS.descriptionBytes) {
    throw badRequest(`${field('description')}: at most ${TEMPLATE_LIMITS.descriptionBytes} bytes`);
  }
  const title = input.title;
  if (typeof title !== 'string' || title === '') throw badRequest(`${field('title')}: required`);
  if (bytes(title) > TEMPLATE_LIMITS.titleBytes) throw badRequest(`${field('title')}: at most ${TEMPLATE_LIMITS.titleBytes} bytes`);
  const body = input.body;
  if (typeof body !== 'string' || body === '') throw badRequest(`${field('body')}: required`);
  if (bytes(body) > TEMPLATE_LIMITS.bodyBytes) throw badRequest(`${field('body')}: at most ${TEMPLATE_LIMITS.bodyBytes / 1024} KB`);
  const senderAddress = typeof input.senderAddress === 'string' ? input.senderAddress.trim() : '';
  if (!senderAddress) throw badRequest(`${field('senderAddress')}: required`);
  if (!isValidEmail(senderAddress)) throw badRequest(`${field('senderAddress')}: not a valid e-mail address`);
  const senderName = input.senderName || null;
  if (senderName && bytes(senderName) > TEMPLATE_LIMITS.senderNameBytes) {
    throw badRequest(`${field('senderName')}: at most ${TEMPLATE_LIMITS.senderNameBytes} bytes`);
  }
  return { name, description, title, body, senderAddress, senderName, isUse: input.isUse ?? true };
}

/** A sid from a path: anything that is not a positive whole number names nothing (77103). */
export function parsePathSid(field: string, kind: string, raw: string): string {
  if (!/^\d{1,18}$/.test(raw) || BigInt(raw) === 0n) throw notFound(`${field}: ${kind} ${raw} does not exist`);
  return String(BigInt(raw));
}

/**
 * A parent (category) sid from a body: absent means "not given", -1 (or "-1") the top level
 * (null). NCP's createTemplate types categorySid as a string, so numeric strings are accepted.
 */
export function parseParentSid(field: string, raw: unknown): string | null | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const text = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : undefined;
  if (text === undefined || !/^-?\d{1,18}$/.test(text)) throw badRequest(`${field}: must be a category sid, or -1 for the top level`);
  const n = BigInt(text);
  if (n === -1n) return null;
  if (n <= 0n) throw badRequest(`${field}: must be a category sid, or -1 for the top level`);
  return String(n);
}
