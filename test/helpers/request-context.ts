import { buildRequestContext, type RequestContext } from '../../src/modules/delivery/request-context.ts';

/** A plain individual request's delivery context (no attachments, notice or DKIM key), with `over` on its row. */
export function requestContext(over: { title?: string; body?: string; sender_address?: string } = {}): RequestContext {
  return buildRequestContext({
    id: '1',
    project_id: '1',
    sender_address: 'from@sender.example',
    sender_name: null,
    individual: true,
    advertising: false,
    parameters: null,
    references_header: null,
    title: 'Hello',
    body: '<p>Hi</p>',
    ...over,
  });
}
