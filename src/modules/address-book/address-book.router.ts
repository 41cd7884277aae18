import { Router, type Request } from 'express';
import type { AppDeps } from '../../deps.ts';
import { parseMultiValue } from '../../http/query-params.ts';
import type { AddressBookRequest, AddressDeleteRequest, GroupRelationDeleteRequest } from './address-book.mapper.ts';
import { getAddressBook } from './address-book.read-model.ts';
import {
  createAddressBook,
  deleteAddress,
  deleteAddressBook,
  deleteRecipientGroup,
  deleteRecipientGroupRelation,
  deleteRecipientGroupRelationEmpty,
  writeGroupCombination,
} from './address-book.service.ts';
import { validateGroupFilter } from './group-filter.ts';

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

/** NCP's address-book operations and the combination download (an extension: the .xlsx of a group filter's addresses). */
export function addressBookRouter(deps: AppDeps): Router {
  const router = Router();
  const body = <T>(req: Request) => (req.body ?? {}) as T;
  const query = (req: Request, key: string) => (req.query as Record<string, unknown>)[key];

  router.post('/address-book', async (req, res) => {
    const { before, addresses } = await createAddressBook(deps, req.projectId!, body<AddressBookRequest>(req));
    req.log.info({ addresses }, 'address book upserted');
    res.status(201).json(before);
  });

  router.get('/address-book', async (req, res) => {
    res.json(await getAddressBook(deps.db, req.projectId!));
  });

  router.delete('/address-book', async (req, res) => {
    const deleted = await deleteAddressBook(deps, req.projectId!);
    req.log.info(deleted, 'address book deleted');
    res.json(deleted);
  });

  router.delete('/address-book/address', async (req, res) => {
    res.json(await deleteAddress(deps, req.projectId!, body<AddressDeleteRequest>(req)));
  });

  router.delete('/address-book/recipient-groups', async (req, res) => {
    res.json(await deleteRecipientGroup(deps, req.projectId!, query(req, 'groupName')));
  });

  router.delete('/address-book/recipient-groups/address', async (req, res) => {
    res.json(await deleteRecipientGroupRelation(deps, req.projectId!, body<GroupRelationDeleteRequest>(req)));
  });

  router.delete('/address-book/recipient-groups/address/empty', async (req, res) => {
    res.json(await deleteRecipientGroupRelationEmpty(deps, req.projectId!, query(req, 'groupName')));
  });

  router.get('/address-book/combination', async (req, res) => {
    const andFilter = query(req, 'andFilter');
    const filter = validateGroupFilter(
      {
        andFilter: andFilter === true || andFilter === 'true' ? true : andFilter === false || andFilter === 'false' ? false : andFilter,
        groups: parseMultiValue(query(req, 'groups'), 'groups') ?? [],
      },
      '',
    );
    const total = await writeGroupCombination(deps, req.projectId!, filter, res, (n) => {
      res.set({
        'Content-Type': XLSX,
        'Content-Disposition': 'attachment; filename="address-book-combination.xlsx"',
        'X-Total-Count': String(n),
      });
    });
    req.log.info({ addresses: total }, 'group combination downloaded');
  });

  return router;
}
