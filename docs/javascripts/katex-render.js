// Typeset the math of every page with the KaTeX copy shipped beside this file, so that no
// request leaves the page. pymdownx.arithmatex (generic mode) wraps each formula as
// <span class="arithmatex">\( ... \)</span> or <div class="arithmatex">\[ ... \]</div>, on the
// written pages and on the API pages (docstrings) alike; every such element is rendered here.
// A formula also reaches places as bare text, "\( ... \)" with no element around it: the
// navigation (a heading's formula, in the table of contents) and the search results (the page
// text the search index holds). Those are found in the text and rendered inline.
(function () {
  "use strict";

  var DELIMITERS = [
    ["\\(", "\\)", false],
    ["\\[", "\\]", true],
  ];

  // \( ... \) or \[ ... \] inside a run of text.
  var IN_TEXT = /\\\(([\s\S]+?)\\\)|\\\[([\s\S]+?)\\\]/g;

  function typeset(tex, element, displayMode) {
    // A formula KaTeX cannot parse is shown as its source in red (throwOnError: false)
    // rather than stopping the rest of the page; the docs test looks for such errors.
    katex.render(tex, element, {
      displayMode: displayMode,
      throwOnError: false,
      output: "htmlAndMathml",
    });
  }

  function renderElement(element) {
    var source = element.textContent.trim();
    for (var i = 0; i < DELIMITERS.length; i++) {
      var open = DELIMITERS[i][0];
      var close = DELIMITERS[i][1];
      if (source.startsWith(open) && source.endsWith(close)) {
        typeset(source.slice(open.length, -close.length), element, DELIMITERS[i][2]);
        return;
      }
    }
  }

  function renderTextNode(node) {
    var text = node.nodeValue;
    var pieces = document.createDocumentFragment();
    var last = 0;
    text.replace(IN_TEXT, function (match, inline, display, offset) {
      pieces.appendChild(document.createTextNode(text.slice(last, offset)));
      var span = document.createElement("span");
      span.className = "arithmatex";
      // Inline even for display math: these are one-line labels and excerpts.
      typeset(inline === undefined ? display : inline, span, false);
      pieces.appendChild(span);
      last = offset + match.length;
    });
    pieces.appendChild(document.createTextNode(text.slice(last)));
    node.parentNode.replaceChild(pieces, node);
  }

  function renderTextIn(root) {
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    var found = [];
    while (walker.nextNode()) {
      var node = walker.currentNode;
      IN_TEXT.lastIndex = 0;
      if (IN_TEXT.test(node.nodeValue) && !node.parentNode.closest(".katex")) found.push(node);
    }
    IN_TEXT.lastIndex = 0;
    found.forEach(renderTextNode);
  }

  function renderAll() {
    document.querySelectorAll(".arithmatex").forEach(renderElement);
    document.querySelectorAll("nav").forEach(renderTextIn);
    // Search results are written after the page loaded, at every keystroke.
    var results = document.querySelector("[data-md-component=search-result]");
    if (results) {
      new MutationObserver(function () {
        renderTextIn(results);
      }).observe(results, { childList: true, subtree: true });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", renderAll);
  } else {
    renderAll();
  }
})();
