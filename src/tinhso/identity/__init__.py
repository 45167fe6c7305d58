"""Identity: agencies, people, roles, information systems and their credentials, sign-in."""
