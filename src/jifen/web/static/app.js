// The pages' only script (the Content-Security-Policy allows no inline script or onclick attribute):
// print buttons, and the counter basket's running total.
(function () {
  'use strict';

  // <button data-print>: print the page (household card, receipt, notice board, settlement report)
  document.addEventListener('click', function (event) {
    var target = event.target;
    if (target instanceof Element && target.closest('[data-print]')) window.print();
  });

  // the counter basket: total of the quantities entered, and a warning above the available points
  function basket() {
    var form = document.getElementById('basket');
    var total = document.getElementById('total');
    var over = document.getElementById('over');
    var availableEl = document.getElementById('available');
    if (!form || !total || !over || !availableEl) return;
    var available = +availableEl.dataset.available;
    function sum() {
      var t = 0;
      form.querySelectorAll('input[data-price]').forEach(function (i) {
        var n = parseInt(i.value, 10);
        if (n > 0) t += n * +i.dataset.price;
      });
      total.textContent = t;
      over.hidden = t <= available;
    }
    form.addEventListener('input', sum);
    sum();
    form.addEventListener('submit', function () {
      form.querySelector('button[type=submit]').disabled = true;
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', basket);
  else basket();
})();
