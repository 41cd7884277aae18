import { useT } from '../../i18n/i18n.tsx';
import { common } from '../../components/messages.ts';

export default function MailingList() {
  const t = useT(common);
  return <h1>{t('navMailingList' as never)}</h1>;
}
