/* film-affiliate embed.js: fills every element such as
 *
 *   <div data-affiliate-widget="how-to-watch" data-film="tmdb:451"
 *        data-region="GB" data-locale="es" data-layout="compact"></div>
 *
 * with that widget's HTML fragment, fetched from the service this script was loaded from:
 *
 *   <script async src="https://SERVICE/affiliate/static/embed.js"></script>
 *
 * data-affiliate-widget is "how-to-watch" or "related-products"; data-film an internal id, tmdb:ID or
 * imdb:ttID. A list of changes across the catalog takes data-list instead of data-film:
 *
 *   <div data-affiliate-widget="changes" data-list="new" data-region="US"
 *        data-platform="netflix,hulu" data-kind="stream" data-days="7"></div>
 *
 * (data-list is "new", "leaving" or "price-drops"; the filters are optional). data-region and data-locale are optional (without them the service picks from
 * the visitor's headers); data-layout is "list" (the default) or "compact" (an unknown one
 * is warned about in the console and "list" used). Elements added later are filled too (a
 * MutationObserver), or call AffiliateWidgets.scan(root) / AffiliateWidgets.load(element)
 * yourself. The stylesheet, beacon.js (which counts clicks on links shown directly) and
 * fallback.js (which replaces images that fail to load) are added to the page once; a
 * widget is put in once the stylesheet is there, so it never shows unstyled. A film the
 * service does not know (404), or any other failure, leaves the element empty and says why
 * in the console. The widget's region switcher reloads the widget in place. No
 * dependencies; no cookies are sent.
 */
(function () {
  "use strict";
  if (window.AffiliateWidgets) {
    return; // included twice
  }

  var SELECTOR = "[data-affiliate-widget]";
  var WIDGETS = ["how-to-watch", "related-products"];
  var LAYOUTS = ["list", "compact"];
  var LISTS = ["new", "leaving", "price-drops"];
  var LIST_FILTERS = ["platform", "kind", "days"];
  var script = document.currentScript ||
    document.querySelector('script[src*="/affiliate/static/embed.js"]');
  // embed.js lives at <service>/affiliate/static/embed.js, under any prefix a host app uses.
  var base = new URL("../../", script.src).href;
  var stylesheet = new URL("widgets.css", script.src).href;
  var scripts = ["beacon.js", "fallback.js"].map(function (name) {
    return new URL(name, script.src).href;
  });
  var styled = null; // resolves once the stylesheet has loaded (or failed)
  var requests = new WeakMap(); // element -> its latest request, so an older answer is dropped

  function present(selector, url) {
    return Array.prototype.some.call(document.querySelectorAll(selector), function (element) {
      return (element.href || element.src) === url;
    });
  }

  // The stylesheet and the scripts, once per page, whatever the number of widgets.
  function addAssets() {
    if (!styled) {
      styled = new Promise(function (resolve) {
        var link = Array.prototype.find.call(
          document.querySelectorAll('link[rel="stylesheet"]'),
          function (element) { return element.href === stylesheet; });
        if (link && link.sheet) {
          resolve();
          return;
        }
        if (!link) {
          link = document.createElement("link");
          link.rel = "stylesheet";
          link.href = stylesheet;
          document.head.appendChild(link);
        }
        link.addEventListener("load", resolve);
        link.addEventListener("error", resolve);
      });
    }
    scripts.forEach(function (src) {
      if (!present("script[src]", src)) {
        var element = document.createElement("script");
        element.src = src;
        element.async = true;
        document.head.appendChild(element);
      }
    });
    return styled;
  }

  // A list of changes: widgets/changes/<list>?region=&locale=&platform=&kind=&days=
  function listUrl(element) {
    var list = element.getAttribute("data-list");
    if (LISTS.indexOf(list) < 0) {
      return null;
    }
    var url = new URL("widgets/changes/" + list, base);
    ["region", "locale"].concat(LIST_FILTERS).forEach(function (name) {
      var value = element.getAttribute("data-" + name);
      if (value) {
        url.searchParams.set(name, value);
      }
    });
    return url.href;
  }

  function widgetUrl(element) {
    var widget = element.getAttribute("data-affiliate-widget");
    if (widget === "changes") {
      return listUrl(element);
    }
    var film = element.getAttribute("data-film");
    if (WIDGETS.indexOf(widget) < 0 || !film) {
      return null;
    }
    var url = new URL("widgets/" + widget + "/" + encodeURIComponent(film), base);
    ["region", "locale"].forEach(function (name) {
      var value = element.getAttribute("data-" + name);
      if (value) {
        url.searchParams.set(name, value);
      }
    });
    var layout = element.getAttribute("data-layout");
    if (layout && LAYOUTS.indexOf(layout) < 0) {
      console.warn('affiliate widget: data-layout="' + layout + '" is not one of ' +
        LAYOUTS.join(", ") + '; showing "list"');
    } else if (layout && layout !== LAYOUTS[0]) {
      url.searchParams.set("layout", layout);
    }
    return url.href;
  }

  // The fragment without its own <link rel="stylesheet">: the page has it once already.
  function parse(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    template.content.querySelectorAll('link[rel="stylesheet"]').forEach(function (link) {
      link.remove();
    });
    return template.content;
  }

  function textOf(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    return template.content.textContent.trim();
  }

  function fail(element, message) {
    element.replaceChildren();
    element.setAttribute("data-affiliate-state", "failed");
    console.error("affiliate widget: " + message);
  }

  /* Fetch the element's widget and put it in; resolves when done, whatever happened. */
  function load(element) {
    var url = widgetUrl(element);
    if (!url) {
      fail(element, 'needs data-affiliate-widget="' + WIDGETS.join('" or "') +
        '" and data-film, or data-affiliate-widget="changes" and data-list="' +
        LISTS.join('" or "') + '", got ' + element.outerHTML.slice(0, 200));
      return Promise.resolve();
    }
    var ready = addAssets();
    var request = {};
    requests.set(element, request);
    element.setAttribute("data-affiliate-state", "loading");
    element.setAttribute("aria-busy", "true");
    return fetch(url, { mode: "cors", credentials: "omit" })
      .then(function (response) {
        return response.text().then(function (html) {
          if (!response.ok) {
            throw new Error(response.status + " from " + url + ": " + textOf(html));
          }
          return html;
        });
      })
      .then(function (html) {
        return ready.then(function () {
          return html;
        });
      })
      .then(function (html) {
        if (requests.get(element) === request) {
          element.replaceChildren(parse(html));
          element.setAttribute("data-affiliate-state", "loaded");
        }
      }, function (error) {
        if (requests.get(element) === request) {
          fail(element, error.message || String(error));
        }
      })
      .then(function () {
        if (requests.get(element) === request) {
          element.removeAttribute("aria-busy");
        }
      });
  }

  /* Load every widget element in `root` (default: the page) that was not loaded yet. */
  function scan(root) {
    root = root || document;
    var found = root.matches && root.matches(SELECTOR) ? [root] : [];
    root.querySelectorAll(SELECTOR).forEach(function (element) {
      found.push(element);
    });
    found.forEach(function (element) {
      if (!element.hasAttribute("data-affiliate-state")) {
        load(element);
      }
    });
  }

  // The region switcher (a GET form) reloads its widget in place, keeping keyboard focus.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.matches("form.aff-region-switcher")) {
      return;
    }
    var element = form.closest(SELECTOR);
    if (!element) {
      return;
    }
    event.preventDefault();
    new FormData(form).forEach(function (value, name) {
      if ((name === "region" || name === "locale") && value) {
        element.setAttribute("data-" + name, value);
      }
    });
    load(element).then(function () {
      var select = element.querySelector("form.aff-region-switcher select[name=region]");
      if (select) {
        select.focus();
      }
    });
  });

  new MutationObserver(function (records) {
    records.forEach(function (record) {
      record.addedNodes.forEach(function (node) {
        if (node.nodeType === Node.ELEMENT_NODE) {
          scan(node);
        }
      });
    });
  }).observe(document.documentElement, { childList: true, subtree: true });

  window.AffiliateWidgets = { scan: scan, load: load, base: base };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      scan(document);
    });
  } else {
    scan(document);
  }
})();
