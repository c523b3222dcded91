"""The delivery pipeline's steps (Vercel CLI/REST, GitHub REST, reports). Never imported by app/."""
