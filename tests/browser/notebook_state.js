() => {
  if (!window.jupyterapp || !window.jupyterapp.shell) return null;
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = [];
  const model = panel.content.model.cells;
  for (let i = 0; i < model.length; i++) {
    const c = model.get(i);
    cells.push(c.type === 'code' ? {type: 'code', count: c.executionCount, outputs: c.outputs.toJSON()} : {type: c.type});
  }
  const busy = [...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')].some(p => p.textContent.includes('*'));
  return {status: kernel ? kernel.status : 'none', busy, cells};
}
