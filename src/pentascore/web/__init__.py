"""The web app: pages for people, partners and operators, served by the same app, offline
(no CDN: HTML, a little CSS and charts drawn as SVG on the server), in English and Chinese."""
