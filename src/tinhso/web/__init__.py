"""Web portal: base templates, static assets, the home page, sign-in and admin pages."""
