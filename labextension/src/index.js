/**
 * nbllm-lab, two plugins.
 *
 * "Copy as code": an nbllm widget's button sends a `nbllm-insert-cell` DOM event with its code;
 * this extension puts the code in a new cell below the widget's cell and says so, so the widget
 * shows its code in a box instead only where no extension answers (Voila, a saved page).
 *
 * A notebook that was only opened is not marked modified.
 *
 * With saveState on (as on Binder), ipywidgets' JupyterLab manager marks the notebook modified
 * for every widget model it registers, and it registers one for each widget it restores from
 * the notebook's saved state or from a running kernel. Until the user does something (edits,
 * runs code, or uses a widget), this plugin takes back a modified mark when the notebook's
 * content is still what was loaded; after that, every mark stands, as before.
 */
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';

// What the front end sends when the user acts: code to run, or a widget's change or event.
// (Restoring widgets from a kernel sends only `request_state`.)
function isUserAction(msg) {
  const type = msg.header.msg_type;
  if (type === 'execute_request') {
    return true;
  }
  const method = type === 'comm_msg' && msg.content.data && msg.content.data.method;
  return method === 'update' || method === 'custom';
}

const guarded = new WeakSet();

function guard(panel) {
  const context = panel.context;
  // Only a notebook being opened: a second view of an open one has nothing to restore.
  if (guarded.has(context) || context.isReady) {
    return;
  }
  guarded.add(context);
  const session = context.sessionContext;
  let loaded = null;
  let changed = false; // the content changed since it last matched what was loaded
  let kernel = null;
  let active = true;

  const onMessage = (_, args) => {
    if (args.direction === 'send' && isUserAction(args.msg)) {
      stop();
    }
  };
  const watch = (_, args) => {
    if (kernel) {
      kernel.anyMessage.disconnect(onMessage);
    }
    kernel = args ? args.newValue : session.session ? session.session.kernel : null;
    if (kernel && active) {
      kernel.anyMessage.connect(onMessage);
    }
  };
  const onContent = () => {
    changed = true;
  };
  const onState = (model, change) => {
    if (!active || change.name !== 'dirty' || !change.newValue) {
      return;
    }
    if (!changed || JSON.stringify(model.toJSON()) === loaded) {
      changed = false;
      model.dirty = false;
    } else {
      stop(); // a real change: from now on the mark is the user's
    }
  };
  function stop() {
    active = false;
    context.model.stateChanged.disconnect(onState);
    context.model.contentChanged.disconnect(onContent);
    context.saveState.disconnect(stop);
    context.fileChanged.disconnect(stop);
    session.kernelChanged.disconnect(watch);
    if (kernel) {
      kernel.anyMessage.disconnect(onMessage);
    }
  }

  context.ready.then(() => {
    if (panel.isDisposed || !active) {
      return;
    }
    loaded = JSON.stringify(context.model.toJSON());
    context.model.stateChanged.connect(onState);
    context.model.contentChanged.connect(onContent);
    context.saveState.connect(stop); // saved or reverted: the file is no longer what was loaded
    context.fileChanged.connect(stop);
    session.kernelChanged.connect(watch);
    watch();
    panel.disposed.connect(stop);
  });
}

const plugin = {
  id: 'nbllm-lab:open-unmodified',
  description: 'A notebook that was only opened is not marked modified by the widgets it restores.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (app, tracker) => {
    tracker.widgetAdded.connect((_, panel) => guard(panel));
  }
};

function insertBelow(tracker, event) {
  const target = event.target;
  let inserted = false;
  tracker.forEach(panel => {
    if (inserted || !panel.node.contains(target)) {
      return;
    }
    const notebook = panel.content;
    const index = notebook.widgets.findIndex(cell => cell.node.contains(target));
    if (index < 0) {
      return;
    }
    notebook.activeCellIndex = index;
    NotebookActions.insertBelow(notebook);
    NotebookActions.changeCellType(notebook, 'code'); // whatever the user's default cell type
    notebook.activeCell.model.sharedModel.setSource(event.detail.code);
    notebook.mode = 'edit';
    inserted = true;
  });
  event.detail.inserted = inserted;
}

const copyAsCode = {
  id: 'nbllm-lab:copy-as-code',
  description: "An nbllm widget's Copy as code button adds a cell below with its code.",
  autoStart: true,
  requires: [INotebookTracker],
  activate: (app, tracker) => {
    document.addEventListener('nbllm-insert-cell', event => insertBelow(tracker, event));
  }
};

export default [plugin, copyAsCode];
