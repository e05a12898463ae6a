// "Rerun" and "Rerun failed" on a queue's page: a new queue at this one's
// resolved commit (POST /api/queue/{id}/rerun), then that queue's page.
// Which tasks count as failed is the server's rule (rerun.rs), said again
// here only to show the button when there is something to rerun.

import { queueHref, rerunQueue } from './api.js';
import { h } from './dom.js';

/** A task that did not pass: FAIL, TIMEOUT or ERROR, or ended without a result. */
export function didNotPass(task) {
  if (task.result) return !['PASS', 'FLAKY'].includes(task.result);
  return task.status === 'Skipped' || task.status === 'Cancelled';
}

/** What the buttons may do for `view`: rerun at all (a resolved commit), and how many failed. */
export function rerunChoices(view) {
  const failed = (view.tasks ?? []).filter(didNotPass).length;
  return { any: Boolean(view.commit), failed: view.commit ? failed : 0 };
}

/** The two buttons; `getView()` is the view shown when one is clicked. */
export function rerunButtons(getView, flash) {
  const go = async (button, failedOnly) => {
    const view = getView();
    button.disabled = true;
    try {
      const rerun = await rerunQueue(view.id, { failed_only: failedOnly });
      flash(`Queue ${rerun.id} reruns ${failedOnly ? 'the failed tasks of ' : ''}${view.id} at ${view.commit.slice(0, 10)}.`);
      window.location.hash = queueHref(rerun.id);
    } catch (e) {
      flash(`Could not rerun ${view.id}: ${e.message}`, 'error');
    } finally {
      button.disabled = false;
    }
  };
  const all = h('button', {
    class: 'btn', type: 'button', 'data-test': 'rerun', hidden: true,
    title: 'Run every task again at the same commit', onclick: (e) => go(e.currentTarget, false),
  }, 'Rerun');
  const failed = h('button', {
    class: 'btn', type: 'button', 'data-test': 'rerun-failed', hidden: true,
    title: 'Run the tasks that did not pass again at the same commit', onclick: (e) => go(e.currentTarget, true),
  }, 'Rerun failed');
  return {
    elements: [all, failed],
    /** Shows the buttons that apply to `view` (an ended queue with a commit). */
    update(view, terminal) {
      const choices = rerunChoices(view);
      all.hidden = !terminal || !choices.any;
      failed.hidden = !terminal || choices.failed === 0;
      failed.textContent = `Rerun failed (${choices.failed})`;
    },
  };
}
