(tap) => {
  // the page checks axe-core does not make (see browser.py): page.evaluate(source, 44) lists problems
  const problems = [];
  const visible = (el) => {
    if (!el.checkVisibility({visibilityProperty: true, opacityProperty: false})) return null;
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 ? box : null;
  };
  const name = (el) => (el.innerText || el.value || el.getAttribute('aria-label') || el.tagName).trim()
    .replace(/\s+/g, ' ').slice(0, 30);
  const inSentence = (el) => {
    if (el.tagName !== 'A' || getComputedStyle(el).display !== 'inline') return false;
    const paragraph = el.closest('p');
    return !!paragraph && paragraph.innerText.trim().length > el.innerText.trim().length;
  };
  for (const el of document.querySelectorAll('a[href], button, input[type=submit], summary, select')) {
    const box = visible(el);
    if (!box || inSentence(el)) continue;
    if (box.width < tap - 0.5 || box.height < tap - 0.5)
      problems.push(`tap target ${Math.round(box.width)}×${Math.round(box.height)} px: <${el.tagName.toLowerCase()}> ${name(el)}`);
  }
  if (![...document.querySelectorAll('h1')].some(visible)) problems.push('no visible <h1>');
  for (const el of document.querySelectorAll('th, .pill')) {
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (visible(el) && size < 16) problems.push(`${size} px text (< 16): ${el.className || el.tagName} ${name(el)}`);
  }
  // a disabled button says why in text as legible as any other (axe skips disabled controls)
  const rgb = (c) => c.match(/[\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => { const [r, g, b] = rgb(c).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  for (const el of document.querySelectorAll('button[disabled]')) {
    if (!visible(el)) continue;
    const style = getComputedStyle(el);
    const [a, b] = [lum(style.color), lum(style.backgroundColor)];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (style.opacity !== '1' || ratio < 4.5) problems.push(`faint disabled button (contrast ${ratio.toFixed(1)}, opacity ${style.opacity}): ${name(el)}`);
  }
  // the tab bar: every tab on screen, and the current one marked
  const bar = document.querySelector('nav.tabs');
  if (bar) {
    const barBox = bar.getBoundingClientRect();
    const width = document.documentElement.clientWidth;
    const tabs = [...bar.querySelectorAll('a')];
    for (const tab of tabs) {
      const box = tab.getBoundingClientRect();
      if (box.left < Math.max(0, barBox.left) - 0.5 || box.right > Math.min(width, barBox.right) + 0.5
          || box.bottom > barBox.bottom + 0.5)
        problems.push(`tab off screen: ${name(tab)} (${Math.round(box.left)}–${Math.round(box.right)} px)`);
    }
    const path = location.pathname;
    const base = document.baseURI.startsWith('http') ? document.baseURI : 'http://localhost/';
    const hrefPath = (tab) => new URL(tab.getAttribute('href'), base).pathname;
    const owns = (tab) => path === hrefPath(tab) || path.startsWith(hrefPath(tab) + '/');
    const mine = tabs.filter(owns).sort((a, b) => hrefPath(b).length - hrefPath(a).length)[0];
    const marked = tabs.filter((tab) => tab.getAttribute('aria-current') === 'page');
    if (mine && (marked.length !== 1 || marked[0] !== mine))
      problems.push(`current tab should be ${name(mine)}, marked: [${marked.map(name).join(', ')}]`);
    if (!mine && marked.length) problems.push(`no tab owns ${path}, marked: [${marked.map(name).join(', ')}]`);
  }
  // chart text as it shows: an SVG is scaled to its box, so its font size times the scale is what one reads
  for (const chart of document.querySelectorAll('svg.chart')) {
    const box = visible(chart);
    if (!box || !chart.viewBox.baseVal || !chart.viewBox.baseVal.width) continue;
    const scale = box.width / chart.viewBox.baseVal.width;
    const smallest = Math.min(...[...chart.querySelectorAll('text')].map((t) => parseFloat(getComputedStyle(t).fontSize)));
    if (smallest * scale < 14 - 0.05)
      problems.push(`chart text ${(smallest * scale).toFixed(1)} px (< 14): ${chart.querySelector('title')?.textContent}`);
  }
  return problems;
}
