import { useT } from '../../i18n/i18n.tsx';
import { common } from '../../components/messages.ts';

export default function Unsubscribers() {
  const t = useT(common);
  return <h1>{t('navUnsubscribers' as never)}</h1>;
}
