import { useT } from '../../i18n/i18n.tsx';
import { common } from '../../components/messages.ts';

export default function AccessKeys() {
  const t = useT(common);
  return <h1>{t('navAccessKeys' as never)}</h1>;
}
