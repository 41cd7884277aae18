import { type ReactNode, useEffect, useId, useRef } from 'react';
import { createPortal } from 'react-dom';

/**
 * The console's modal <dialog> (showModal: focus moves in and stays there, Escape closes it) with a heading.
 * Rendered only while open, so its fields start fresh each time. It is put at the end of <body>
 * (a dialog's own <form> can't sit inside the send form), and its submit events stop at it: React
 * would otherwise pass them on to the send form through the component tree.
 */
export function Dialog({
  title,
  onClose,
  children,
  actions,
  className,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  /** buttons at the dialog's foot */
  actions?: ReactNode;
  className?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const headingId = useId();
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const opener = document.activeElement as HTMLElement | null;
    if (!dialog.open) dialog.showModal();
    const onCancel = (e: Event) => {
      e.preventDefault();
      closeRef.current();
    };
    dialog.addEventListener('cancel', onCancel);
    return () => {
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
      opener?.focus?.();
    };
  }, []);
  return createPortal(
    <dialog ref={ref} aria-labelledby={headingId} className={className} onSubmit={(e) => e.stopPropagation()}>
      <h2 id={headingId}>{title}</h2>
      {children}
      {actions && <div className="dialog-actions">{actions}</div>}
    </dialog>,
    document.body,
  );
}
