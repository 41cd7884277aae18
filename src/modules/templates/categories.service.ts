import type { AppDeps } from '../../deps.ts';
import type { Tx } from '../../db/schema.ts';
import { badRequest } from '../../shared/errors.ts';
import { categoryNotFound, lockParent, parseLowerSid, placeAmongSiblings, withUniqueName } from './place-in-tree.ts';
import { toCategory, type CategoryCreate, type CategoryUpdate, type TemplateCategory } from './templates.mapper.ts';
import * as repo from './templates.repository.ts';
import { checkName, parseParentSid, parsePathSid, TEMPLATE_LIMITS } from './validate-template.ts';

/** NCP's category operations: the tree templates are filed in, at most TEMPLATE_LIMITS.categoryDepth deep. */

type Deps = Pick<AppDeps, 'db' | 'config' | 'now'>;

const nameTaken = (name: string) => `categoryName: a category named "${name}" already exists there`;

async function assertNameFree(tx: Tx, projectId: string, parentSid: string | null, name: string, self?: string): Promise<void> {
  const existing = await repo.findCategoryByName(tx, projectId, parentSid, name);
  if (existing && existing.sid !== self) throw badRequest(nameTaken(name));
}

type ParentMap = Map<string, string | null>;

/** Levels from the top down to `sid` (a top-level category is 1; the top itself, null, is 0). Iterative. */
function depthOf(parents: ParentMap, sid: string | null): number {
  let depth = 0;
  for (let at = sid; at !== null && at !== undefined && depth <= parents.size; at = parents.get(at) ?? null) depth++;
  return depth;
}

/** Levels of `sid`'s sub-tree, itself included. Breadth first, no recursion. */
function heightOf(parents: ParentMap, sid: string): number {
  const children = new Map<string, string[]>();
  for (const [child, parent] of parents) {
    if (parent === null) continue;
    const list = children.get(parent);
    if (list) list.push(child);
    else children.set(parent, [child]);
  }
  let height = 0;
  for (let level = [sid]; level.length && height <= parents.size; height++) level = level.flatMap((c) => children.get(c) ?? []);
  return height;
}

const tooDeep = () => badRequest(`parentSid: categories may be nested at most ${TEMPLATE_LIMITS.categoryDepth} levels deep`);

export async function createCategory(deps: Deps, projectId: string, body: CategoryCreate): Promise<TemplateCategory> {
  const name = checkName('categoryName', body.categoryName);
  const parentSid = parseParentSid('parentSid', body.parentSid) ?? null;
  return withUniqueName(nameTaken(name), () =>
    deps.db.transaction().execute(async (tx) => {
      await lockParent(tx, projectId, 'parentSid', parentSid);
      if (parentSid !== null && (await repo.categoryDepth(tx, projectId, parentSid, TEMPLATE_LIMITS.categoryDepth)) + 1 > TEMPLATE_LIMITS.categoryDepth)
        throw tooDeep();
      await assertNameFree(tx, projectId, parentSid, name);
      const position = await repo.nextPosition(tx, 'template_categories', projectId, parentSid);
      return toCategory(await repo.insertCategory(tx, { project_id: projectId, parent_sid: parentSid, name, position }));
    }),
  );
}

/** updateCategory: rename and/or move; a category can't move into itself or its own sub-tree. */
export async function updateCategory(deps: Deps, projectId: string, rawSid: string, body: CategoryUpdate): Promise<TemplateCategory> {
  const sid = parsePathSid('categorySid', 'category', rawSid);
  const newName = body.categoryName === undefined || body.categoryName === null ? undefined : checkName('categoryName', body.categoryName);
  const parentSid = parseParentSid('parentSid', body.parentSid);
  const lowerSid = parseLowerSid(body.lowerSid);
  return withUniqueName('categoryName: a category of that name already exists there', () =>
    deps.db.transaction().execute(async (tx) => {
      const row = await repo.lockCategory(tx, projectId, sid);
      if (!row) throw categoryNotFound('categorySid', rawSid);
      const to = parentSid === undefined ? row.parent_sid : parentSid;
      if (to !== null && to !== row.parent_sid) {
        const parents: ParentMap = new Map((await repo.allCategories(tx, projectId)).map((c) => [c.sid, c.parent_sid]));
        for (let at: string | null | undefined = to; at; at = parents.get(at)) {
          if (at === row.sid) throw badRequest(`parentSid: category ${rawSid} can't be moved into itself or one of its sub-categories`);
        }
        if (depthOf(parents, to) + heightOf(parents, row.sid) > TEMPLATE_LIMITS.categoryDepth) throw tooDeep();
      }
      await lockParent(tx, projectId, 'parentSid', to);
      const name = newName ?? row.name;
      await assertNameFree(tx, projectId, to, name, row.sid);
      await placeAmongSiblings(tx, 'template_categories', projectId, row.sid, { from: row.parent_sid, to }, lowerSid);
      return toCategory(await repo.updateCategory(tx, row.sid, { name, parent_sid: to }));
    }),
  );
}

export async function deleteCategory(deps: Deps, projectId: string, rawSid: string): Promise<TemplateCategory> {
  const sid = parsePathSid('categorySid', 'category', rawSid);
  return deps.db.transaction().execute(async (tx) => {
    const row = await repo.lockCategory(tx, projectId, sid);
    if (!row) throw categoryNotFound('categorySid', rawSid);
    // Counted after the lock: anything being put into it meanwhile has either committed or waits.
    const children = await repo.countChildren(tx, row.sid);
    if (children.categories || children.templates) {
      throw badRequest(
        `categorySid: category ${rawSid} holds ${children.categories} sub-categories and ${children.templates} templates (deleted ones included); only an empty category can be deleted`,
      );
    }
    await repo.deleteCategory(tx, row.sid);
    return toCategory(row);
  });
}
