// Render the \( \) and \[ \] spans that pymdownx.arithmatex (generic mode) emits. MathJax
// itself is loaded only by readers' browsers; the build needs no network.
window.MathJax = {
  tex: { inline: [["\\(", "\\)"]], display: [["\\[", "\\]"]], processEscapes: true },
  options: { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex" },
};
