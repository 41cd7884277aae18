import { badRequest } from '../../shared/errors.ts';

/**
 * A group filter (ncp-api-reference §5.1 RecipientGroupFilter) and the group name rule. Pure and
 * import-free on purpose: createMailRequest's validation uses it, and nothing here may import
 * that module back.
 */
const FILTER_MAX_GROUPS = 5;
const GROUP_NAME_MAX_CHARS = 100;

/** NCP's name rule for groups, as for templates and categories. */
const GROUP_NAME = /^[\p{Script=Hangul}A-Za-z0-9._-]+$/u;

export interface GroupFilter {
  andFilter: boolean;
  /** distinct names, in the order given */
  groups: string[];
}

/** 1–100 characters of Hangul, A–Z, a–z, 0–9, ".", "_", "-". */
export function checkGroupName(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw badRequest(`${field}: required (a group name)`);
  if ([...value].length > GROUP_NAME_MAX_CHARS) throw badRequest(`${field}: at most ${GROUP_NAME_MAX_CHARS} characters`);
  if (!GROUP_NAME.test(value)) throw badRequest(`${field}: only Hangul, letters A-Z and a-z, digits, ".", "_" and "-" are allowed (no spaces)`);
  return value;
}

/**
 * recipientGroupFilter and the combination download: andFilter a boolean, 1 to 5 group names
 * (a name given twice counts once). `field` prefixes the messages (none: the fields are query parameters).
 */
export function validateGroupFilter(input: unknown, field = 'recipientGroupFilter'): GroupFilter {
  const f = (key: string) => (field ? `${field}.${key}` : key);
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw badRequest(`${field}: must be an object {andFilter, groups}`);
  const { andFilter, groups } = input as { andFilter?: unknown; groups?: unknown };
  if (typeof andFilter !== 'boolean') throw badRequest(`${f('andFilter')}: required, true (AND) or false (OR)`);
  if (!Array.isArray(groups) || groups.length === 0) throw badRequest(`${f('groups')}: required (1 to ${FILTER_MAX_GROUPS} group names)`);
  const names: string[] = [];
  groups.forEach((g: unknown, i) => {
    const name = checkGroupName(`${f('groups')}[${i}]`, g);
    if (!names.includes(name)) names.push(name);
  });
  if (names.length > FILTER_MAX_GROUPS) throw badRequest(`${f('groups')}: at most ${FILTER_MAX_GROUPS} groups`);
  return { andFilter, groups: names };
}
