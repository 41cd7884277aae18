import { useT } from '../../i18n/i18n.tsx';
import { common } from '../../components/messages.ts';

export default function Send() {
  const t = useT(common);
  return <h1>{t('navSend' as never)}</h1>;
}
