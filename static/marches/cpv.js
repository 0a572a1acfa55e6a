/* CPV picker: a combobox (WAI-ARIA 1.2 pattern) over the `cpv_search` JSON endpoint.
 *
 * - <input data-cpv-search="/…/cpv/">: typing a code prefix or words of the label lists up to
 *   20 codes; choosing one writes « 45261000-4 » in the field.
 * - <textarea data-cpv-append="/…/cpv/">: a search field is added under it; choosing a code
 *   appends it on a new line.
 *
 * Without JavaScript the fields stay plain text fields: typing the code is enough.
 */
(function () {
  "use strict";

  var counter = 0;

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  function combobox(input, url, onChoose) {
    counter += 1;
    var listId = "cpv-listbox-" + counter;
    var wrapper = document.createElement("div");
    wrapper.className = "cpv-combobox";
    input.parentNode.insertBefore(wrapper, input);
    wrapper.appendChild(input);

    var list = document.createElement("ul");
    list.id = listId;
    list.className = "cpv-listbox";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Codes CPV proposés");
    list.hidden = true;
    wrapper.appendChild(list);

    var status = document.createElement("p");
    status.className = "fr-sr-only";
    status.setAttribute("role", "status");
    wrapper.appendChild(status);

    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listId);
    input.setAttribute("autocomplete", "off");

    var results = [];
    var active = -1;
    var lastQuery = "";

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(index) {
      var items = list.children;
      for (var i = 0; i < items.length; i += 1) {
        items[i].setAttribute("aria-selected", i === index ? "true" : "false");
      }
      active = index;
      if (index >= 0 && items[index]) {
        input.setAttribute("aria-activedescendant", items[index].id);
        items[index].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function choose(index) {
      var item = results[index];
      if (!item) { return; }
      close();
      onChoose(item);
    }

    function render() {
      list.textContent = "";
      results.forEach(function (item, index) {
        var li = document.createElement("li");
        li.id = listId + "-" + index;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        var code = document.createElement("span");
        code.className = "cpv-code";
        code.textContent = item.code;
        li.appendChild(code);
        li.appendChild(document.createTextNode(item.label));
        // mousedown, not click: it happens before the field loses focus.
        li.addEventListener("mousedown", function (event) {
          event.preventDefault();
          choose(index);
        });
        list.appendChild(li);
      });
      if (results.length) {
        list.hidden = false;
        input.setAttribute("aria-expanded", "true");
        status.textContent = results.length + (results.length > 1 ? " codes proposés" : " code proposé") +
          ", flèches haut et bas pour choisir, Entrée pour valider.";
      } else {
        close();
        status.textContent = lastQuery ? "Aucun code CPV ne correspond." : "";
      }
      active = -1;
    }

    var search = debounce(function (query) {
      if (query.length < 2) {
        results = [];
        render();
        return;
      }
      fetch(url + "?q=" + encodeURIComponent(query), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (data) {
          if (query !== lastQuery) { return; }  // a newer search is on its way
          results = data.results || [];
          render();
        })
        .catch(function () { results = []; render(); });
    }, 200);

    input.addEventListener("input", function () {
      lastQuery = input.value.trim();
      search(lastQuery);
    });
    input.addEventListener("keydown", function (event) {
      if (list.hidden) {
        if (event.key === "ArrowDown" && results.length) {
          list.hidden = false;
          input.setAttribute("aria-expanded", "true");
          highlight(0);
          event.preventDefault();
        }
        return;
      }
      if (event.key === "ArrowDown") {
        highlight(Math.min(active + 1, results.length - 1));
        event.preventDefault();
      } else if (event.key === "ArrowUp") {
        highlight(Math.max(active - 1, 0));
        event.preventDefault();
      } else if (event.key === "Enter" && active >= 0) {
        choose(active);
        event.preventDefault();
      } else if (event.key === "Escape") {
        close();
        event.preventDefault();
      }
    });
    input.addEventListener("blur", close);
  }

  function init() {
    document.querySelectorAll("input[data-cpv-search]").forEach(function (input) {
      combobox(input, input.getAttribute("data-cpv-search"), function (item) {
        input.value = item.code;
        input.dispatchEvent(new Event("change", { bubbles: true }));
      });
    });
    document.querySelectorAll("textarea[data-cpv-append]").forEach(function (textarea) {
      counter += 1;
      var id = "cpv-append-" + counter;
      var group = document.createElement("div");
      group.className = "fr-input-group cpv-search";
      var label = document.createElement("label");
      label.className = "fr-label";
      label.htmlFor = id;
      label.textContent = "Chercher un code complémentaire à ajouter";
      var hint = document.createElement("span");
      hint.className = "fr-hint-text";
      hint.textContent = "Chiffres du code ou mots du libellé ; le code choisi s'ajoute à la liste ci-dessus.";
      label.appendChild(hint);
      var input = document.createElement("input");
      input.className = "fr-input";
      input.type = "text";
      input.id = id;
      group.appendChild(label);
      group.appendChild(input);
      var anchor = textarea.closest(".fr-input-group") || textarea;
      anchor.parentNode.insertBefore(group, anchor.nextSibling);
      combobox(input, textarea.getAttribute("data-cpv-append"), function (item) {
        var current = textarea.value.replace(/\s+$/, "");
        if (current.indexOf(item.code.slice(0, 8)) === -1) {
          textarea.value = current ? current + "\n" + item.code : item.code;
        }
        input.value = "";
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
