// app.js -- the demo site's script: proves scripts load and run, and writes
// the address this page was loaded from into the example commands.
document.addEventListener('DOMContentLoaded', function () {
  var host = window.location.hostname || '127.0.0.1';
  var here = window.location.host || '127.0.0.1:8080';
  document.querySelectorAll('code.cmd').forEach(function (c) {
    c.textContent = c.textContent.split('HOST').join(host);
  });
  document.querySelectorAll('code.here').forEach(function (c) { c.textContent = here; });
  document.querySelectorAll('a.link').forEach(function (a) {
    var path = a.getAttribute('href').replace(/^https?:\/\/[^/]*/, '');
    a.setAttribute('href', 'http://' + host + ':' + a.getAttribute('data-port') + path);
  });
  var s = document.getElementById('status');
  s.textContent = 'The script ran: static files, MIME types and keep-alive all work.';
  s.className = 'ran';
});
