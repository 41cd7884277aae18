import { useT } from '../../i18n/i18n.tsx';
import { common } from '../../components/messages.ts';

export default function SendBlock() {
  const t = useT(common);
  return <h1>{t('navSendBlock' as never)}</h1>;
}
