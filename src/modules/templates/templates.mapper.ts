import type { Selectable } from 'kysely';
import type { TemplatesTable } from '../../db/schema.ts';
import type { components } from '../../generated/api.ts';
import { formatElapsed, toNesDateTime } from '../../shared/clock.ts';
import { templateBackupStatusLabel, type Lang } from '../../shared/i18n.ts';
import { TEMPLATE_LIMITS } from './validate-template.ts';

type Schemas = components['schemas'];
export type Template = Schemas['Template'];
export type TemplateCategory = Schemas['TemplateCategory'];
export type TemplateStructure = Schemas['TemplateStructure'];
export type TemplateStructureItem = Schemas['TemplateStructureItem'];
export type TemplateExportRequest = Schemas['TemplateExportRequest'];
export type TemplateCreate = Schemas['TemplateCreate'];
export type TemplateUpdate = Schemas['TemplateUpdate'];
export type TemplateLocation = Schemas['TemplateLocation'];
export type CategoryCreate = Schemas['CategoryCreate'];
export type CategoryUpdate = Schemas['CategoryUpdate'];

/** NCP's top level. */
export const ROOT_SID = -1;

export interface CategoryRow {
  sid: string;
  parent_sid: string | null;
  name: string;
  created_at: Date;
}

/** A template as read from its table (the columns the API shows). */
export type TemplateRow = Pick<
  Selectable<TemplatesTable>,
  'sid' | 'category_sid' | 'name' | 'description' | 'title' | 'body' | 'sender_address' | 'sender_name' | 'is_use' | 'created_at'
>;

const sidOf = (sid: string | null) => (sid === null ? ROOT_SID : Number(sid));

export function toCategory(row: CategoryRow): TemplateCategory {
  return { sid: Number(row.sid), parentSid: sidOf(row.parent_sid), name: row.name };
}

export function toTemplate(row: TemplateRow, category: CategoryRow | undefined, timeZone: string): Template {
  return {
    sid: Number(row.sid),
    createDate: toNesDateTime(row.created_at, timeZone)!,
    name: row.name,
    description: row.description,
    title: row.title,
    senderAddress: row.sender_address,
    senderName: row.sender_name,
    body: row.body,
    isUse: row.is_use,
    category: category ? toCategory(category) : null,
  };
}

/** A node of the structure tree, to any depth (the spec spells out two levels of it). */
export type StructureNode = Omit<TemplateStructureItem, 'subCategoris' | 'templates'> & { subCategoris: StructureNode[]; templates: StructureNode[] };

/**
 * getTemplateStructure's tree from the project's categories and (outline) templates, each list
 * already in order: categories hold their sub-categories and templates; the top level lists
 * its categories, then its templates.
 */
export function toStructure(
  categories: CategoryRow[],
  templates: { sid: string; category_sid: string | null; name: string; is_use: boolean; created_at: Date }[],
  timeZone: string,
): TemplateStructure {
  const node = (sid: string, parent: string | null, name: string, createdAt: Date, isCategory: boolean, isUse: boolean): StructureNode => ({
    sid: Number(sid),
    parentSid: sidOf(parent),
    createDate: toNesDateTime(createdAt, timeZone)!,
    name,
    isCategory,
    isUse,
    subCategoris: [],
    templates: [],
  });
  const nodes = new Map(categories.map((c) => [c.sid, node(c.sid, c.parent_sid, c.name, c.created_at, true, true)]));
  const top: StructureNode[] = [];
  const topTemplates: StructureNode[] = [];
  const container = deepestShownAncestors(categories);
  for (const c of categories) {
    const parent = c.parent_sid === null ? undefined : nodes.get(container.get(c.sid) ?? c.parent_sid);
    (parent ? parent.subCategoris : top).push(nodes.get(c.sid)!);
  }
  for (const t of templates) {
    const parent = t.category_sid === null ? undefined : nodes.get(t.category_sid);
    (parent ? parent.templates : topTemplates).push(node(t.sid, t.category_sid, t.name, t.created_at, false, t.is_use));
  }
  // The generated type stops at the depth the spec spells out; the tree itself goes on.
  return { contents: [...top, ...topTemplates] as unknown as TemplateStructure['contents'] };
}

/**
 * Trees are nested at most TEMPLATE_LIMITS.categoryDepth levels, but one built before that limit
 * could be thousands deep, and serialising it (JSON.stringify recurses) overflowed the stack:
 * GET /template answered 500 for good. Categories more than one level below the limit are shown
 * in their ancestor one level below it (their own parentSid still says where they are). Returns
 * those categories and the ancestor to show them in. Iterative.
 */
function deepestShownAncestors(categories: { sid: string; parent_sid: string | null }[]): Map<string, string> {
  const parentOf = new Map(categories.map((c) => [c.sid, c.parent_sid]));
  const depth = new Map<string, number>();
  const moved = new Map<string, string>();
  for (const c of categories) {
    const path: string[] = [];
    let at: string | null | undefined = c.sid;
    while (at !== null && at !== undefined && !depth.has(at) && path.length <= categories.length) {
      path.push(at);
      at = parentOf.get(at);
    }
    let d = at === null || at === undefined || !depth.has(at) ? 0 : depth.get(at)!;
    for (let i = path.length - 1; i >= 0; i--) depth.set(path[i]!, ++d);
  }
  const max = TEMPLATE_LIMITS.categoryDepth;
  // Shallow first, so a category's parent already knows the ancestor it is shown in.
  const deep = categories.filter((c) => (depth.get(c.sid) ?? 0) > max + 1).sort((a, b) => depth.get(a.sid)! - depth.get(b.sid)!);
  for (const c of deep) moved.set(c.sid, moved.get(c.parent_sid!) ?? c.parent_sid!);
  return moved;
}

export interface ExportRow {
  sid: string;
  project_id: string;
  status: string;
  requested_at: Date;
  completed_at: Date | null;
  expires_at: Date | null;
}

/** A completed backup past its expiry shows as expired even before the clean-up job marks it. */
export function exportStatus(row: { status: string; expires_at: Date | null }, now: Date): string {
  return row.status === 'C' && row.expires_at && row.expires_at.getTime() <= now.getTime() ? 'E' : row.status;
}

export function toExportRequest(row: ExportRow, view: { lang: Lang; timeZone: string; publicBaseUrl: string; now: Date }): TemplateExportRequest {
  return {
    sid: Number(row.sid),
    projectSid: Number(row.project_id),
    requestUtc: toNesDateTime(row.requested_at, view.timeZone)!,
    completeUtc: toNesDateTime(row.completed_at, view.timeZone),
    elapsedTime: row.completed_at ? formatElapsed(row.completed_at.getTime() - row.requested_at.getTime()) : null,
    statusCode: templateBackupStatusLabel(exportStatus(row, view.now), view.lang),
    downloadUrl: `${view.publicBaseUrl}/api/v1/template/export/${row.sid}`,
  };
}
