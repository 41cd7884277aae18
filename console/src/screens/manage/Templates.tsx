import { useT } from '../../i18n/i18n.tsx';
import { common } from '../../components/messages.ts';

export default function Templates() {
  const t = useT(common);
  return <h1>{t('navTemplates' as never)}</h1>;
}
