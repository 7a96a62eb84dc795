() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(cell => {
  const outputs = [...cell.querySelectorAll('.jp-OutputArea-output')];
  return {
    images: [...cell.querySelectorAll('.jp-OutputArea-output img')]
      .filter(i => i.complete && i.naturalWidth > 0 && !i.closest('.jupyter-widgets')).length,
    widgets: outputs.filter(o => o.querySelector('.jupyter-widgets')).length,
    sliders: cell.querySelectorAll('.jp-OutputArea-output .widget-slider').length,
    progress: cell.querySelectorAll('.widget-progress, .widget-hprogress').length,
    text: outputs.map(o => o.innerText).join('\n'),
  };
})
