// Point require.js at the folder this script was served from, so that the
// widget manager (embed-amd.js) and its icon fonts load from this site, never a CDN.
(function () {
  var here = document.currentScript.src.replace(/[^/]*$/, "");
  require.config({
    paths: { "@jupyter-widgets/html-manager/dist": here.replace(/\/$/, "") },
  });
})();
