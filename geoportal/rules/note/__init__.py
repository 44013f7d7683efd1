"""The note de renseignement urbanistique: HTML for printing and PDF, with a map extract."""
