// app.js -- the demo site's script: proves scripts load and run.
document.addEventListener('DOMContentLoaded', function () {
  var s = document.getElementById('status');
  s.textContent = 'The script ran: static files, MIME types and keep-alive all work.';
  s.className = 'ran';
});
