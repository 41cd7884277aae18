import { useT } from '../../i18n/i18n.tsx';
import { common } from '../../components/messages.ts';

export default function AddressBook() {
  const t = useT(common);
  return <h1>{t('navAddressBook' as never)}</h1>;
}
