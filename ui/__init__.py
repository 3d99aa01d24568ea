"""What the pages share, one concern a module: server-wide resources (server), URL-backed widgets
(settings), target and run pickers (pickers), downloads (downloads). Pages in app_pages/ stay thin:
widgets here, work in `meanflow`, pictures from meanflow.views.figures."""
