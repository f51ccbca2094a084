// Typeset the math of every page with the KaTeX copy shipped beside this file, so that no
// request leaves the page. pymdownx.arithmatex (generic mode) wraps each formula as
// <span class="arithmatex">\( ... \)</span> or <div class="arithmatex">\[ ... \]</div>, on the
// written pages and on the API pages (docstrings) alike; every such element is rendered here.
// A heading's formula also reaches the navigation (the table of contents) as bare text,
// "\( ... \)" with no element around it: those are found in the text and rendered too.
(function () {
  "use strict";

  var DELIMITERS = [
    ["\\(", "\\)", false],
    ["\\[", "\\]", true],
  ];

  var INLINE_IN_TEXT = /\\\(([\s\S]+?)\\\)/g;

  function typeset(tex, element, displayMode) {
    // A formula KaTeX cannot parse is shown as its source in red (throwOnError: false)
    // rather than stopping the rest of the page; the docs test looks for such errors.
    katex.render(tex, element, {
      displayMode: displayMode,
      throwOnError: false,
      output: "htmlAndMathml",
    });
  }

  function render(element) {
    var source = element.textContent.trim();
    for (var i = 0; i < DELIMITERS.length; i++) {
      var open = DELIMITERS[i][0];
      var close = DELIMITERS[i][1];
      if (source.startsWith(open) && source.endsWith(close)) {
        typeset(source.slice(open.length, source.length - close.length), element, DELIMITERS[i][2]);
        return;
      }
    }
  }

  function renderInText(textNode) {
    var text = textNode.nodeValue;
    var pieces = document.createDocumentFragment();
    var last = 0;
    text.replace(INLINE_IN_TEXT, function (match, tex, offset) {
      pieces.appendChild(document.createTextNode(text.slice(last, offset)));
      var span = document.createElement("span");
      span.className = "arithmatex";
      typeset(tex, span, false);
      pieces.appendChild(span);
      last = offset + match.length;
    });
    pieces.appendChild(document.createTextNode(text.slice(last)));
    textNode.parentNode.replaceChild(pieces, textNode);
  }

  function renderAll() {
    document.querySelectorAll(".arithmatex").forEach(render);
    document.querySelectorAll("nav").forEach(function (nav) {
      var walker = document.createTreeWalker(nav, NodeFilter.SHOW_TEXT);
      var found = [];
      while (walker.nextNode()) {
        if (walker.currentNode.nodeValue.indexOf("\\(") !== -1) found.push(walker.currentNode);
      }
      found.forEach(renderInText);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", renderAll);
  } else {
    renderAll();
  }
})();
