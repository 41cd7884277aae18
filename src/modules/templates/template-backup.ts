import { badRequest } from '../../shared/errors.ts';
import { checkName, parseParentSid, TEMPLATE_LIMITS, validateTemplateFields, type TemplateFields } from './validate-template.ts';

/**
 * The template backup file (exportTemplate writes it, importTemplate reads it). NCP does not
 * document its format, so this is our own, versioned; clients treat it as opaque. Categories
 * come parents first and every list in its order, so an import rebuilds the same tree.
 */
export const BACKUP_FORMAT = 'outbound-mailer-templates';
export const BACKUP_VERSION = 1;

export interface BackupCategory {
  sid: number;
  parentSid: number;
  name: string;
}

export interface BackupTemplate {
  sid: number;
  categorySid: number;
  name: string;
  description: string | null;
  title: string;
  senderAddress: string;
  senderName: string | null;
  body: string;
  isUse: boolean;
}

export function backupHeader(exportedAt: Date): string {
  return `{"format":${JSON.stringify(BACKUP_FORMAT)},"version":${BACKUP_VERSION},"exportedAt":${JSON.stringify(exportedAt.toISOString())},`;
}

export interface ImportPlan {
  /** parents before children, level by level; `parentKey` is the backup sid of the parent, null at the top */
  categories: { key: string; parentKey: string | null; name: string; depth: number }[];
  templates: (TemplateFields & { categoryKey: string | null })[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a parsed backup entry by entry (400/77102 naming the entry) and orders its categories.
 * Bounded: at most TEMPLATE_LIMITS.importCategories categories, importTemplates templates and
 * categoryDepth levels; the ordering is one pass over the tree (no recursion). Pure.
 */
export function planImport(data: unknown): ImportPlan {
  if (!isObject(data) || data.format !== BACKUP_FORMAT) throw badRequest(`file: not a template backup (expected "format": "${BACKUP_FORMAT}")`);
  if (data.version !== BACKUP_VERSION) throw badRequest(`file: backup version ${String(data.version)} is not supported (expected ${BACKUP_VERSION})`);
  const categories = data.categories ?? [];
  const templates = data.templates ?? [];
  if (!Array.isArray(categories)) throw badRequest('file: "categories" must be a list');
  if (!Array.isArray(templates)) throw badRequest('file: "templates" must be a list');
  if (categories.length > TEMPLATE_LIMITS.importCategories) {
    throw badRequest(`file: ${categories.length} categories; a backup may import at most ${TEMPLATE_LIMITS.importCategories.toLocaleString('en-US')}`);
  }
  if (templates.length > TEMPLATE_LIMITS.importTemplates) {
    throw badRequest(`file: ${templates.length} templates; a backup may import at most ${TEMPLATE_LIMITS.importTemplates.toLocaleString('en-US')}`);
  }

  const pending = new Map<string, { index: number; parentKey: string | null; name: string }>();
  const children = new Map<string | null, string[]>();
  categories.forEach((c: unknown, i) => {
    const at = `categories[${i}]`;
    if (!isObject(c)) throw badRequest(`${at}: must be an object`);
    const key = parseParentSid(`${at}.sid`, c.sid);
    if (!key) throw badRequest(`${at}.sid: must be a positive whole number`);
    if (pending.has(key)) throw badRequest(`${at}.sid: ${key} appears twice`);
    const parentKey = parseParentSid(`${at}.parentSid`, c.parentSid) ?? null;
    pending.set(key, { index: i, parentKey, name: checkName(`${at}.name`, c.name) });
    const siblings = children.get(parentKey);
    if (siblings) siblings.push(key);
    else children.set(parentKey, [key]);
  });
  // Parents first, breadth first from the top, in the file's order among siblings; what is never
  // reached has a dangling parent or sits in a cycle.
  const ordered: ImportPlan['categories'] = [];
  let level: (string | null)[] = [null];
  for (let depth = 1; level.length; depth++) {
    const next: string[] = [];
    for (const parent of level) {
      for (const key of children.get(parent) ?? []) {
        const c = pending.get(key)!;
        if (depth > TEMPLATE_LIMITS.categoryDepth) {
          throw badRequest(`categories[${c.index}]: more than ${TEMPLATE_LIMITS.categoryDepth} levels of categories (sid ${key})`);
        }
        ordered.push({ key, parentKey: c.parentKey, name: c.name, depth });
        pending.delete(key);
        next.push(key);
      }
    }
    level = next;
  }
  if (pending.size) {
    const [key, c] = pending.entries().next().value!;
    throw badRequest(`categories[${c.index}].parentSid: category ${c.parentKey} is not in the backup (or the categories form a cycle; sid ${key})`);
  }
  const placed = new Set(ordered.map((c) => c.key));

  const plannedTemplates = templates.map((t: unknown, i) => {
    const at = `templates[${i}]`;
    if (!isObject(t)) throw badRequest(`${at}: must be an object`);
    const fields = validateTemplateFields(
      {
        templateName: t.name as string,
        description: t.description as string | null,
        title: t.title as string,
        body: t.body as string,
        senderAddress: t.senderAddress as string,
        senderName: t.senderName as string | null,
        isUse: typeof t.isUse === 'boolean' ? t.isUse : undefined,
      },
      (field) => `${at}.${field === 'templateName' ? 'name' : field}`,
    );
    const categoryKey = parseParentSid(`${at}.categorySid`, t.categorySid) ?? null;
    if (categoryKey !== null && !placed.has(categoryKey)) throw badRequest(`${at}.categorySid: category ${categoryKey} is not in the backup`);
    return { ...fields, categoryKey };
  });
  return { categories: ordered, templates: plannedTemplates };
}
