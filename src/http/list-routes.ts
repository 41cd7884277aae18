import type { Router } from 'express';
import type { RawQuery } from './query-params.ts';

/** The three operations of a project's list of entries (unsubscribers, blocked domains). */
export interface ListOperations {
  register(projectId: string, body: unknown): Promise<object>;
  remove(projectId: string, body: unknown): Promise<object>;
  list(projectId: string, query: RawQuery): Promise<unknown>;
}

/** POST (201), DELETE and GET on `path`, each logging what a change did. */
export function addListRoutes(router: Router, path: string, noun: string, ops: ListOperations): void {
  router.post(path, async (req, res) => {
    const result = await ops.register(req.projectId!, req.body);
    req.log.info(result, `${noun} registered`);
    res.status(201).json(result);
  });
  router.delete(path, async (req, res) => {
    const result = await ops.remove(req.projectId!, req.body);
    req.log.info(result, `${noun} deleted`);
    res.json(result);
  });
  router.get(path, async (req, res) => {
    res.json(await ops.list(req.projectId!, req.query as RawQuery));
  });
}
